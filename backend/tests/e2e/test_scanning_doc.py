"""The walkthrough in docs/scanning.md works as written, against the simulator the page tells users to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.demo.simulator import running_simulator
from app.engine.sinks import read_jsonl
from tests.conftest import BACKEND_DIR
from tests.e2e.test_docs import console_commands

PAGE = BACKEND_DIR.parent / "docs" / "scanning.md"
DOC_URL = "http://127.0.0.1:8900/v1"


def test_every_console_command_of_the_scanning_page_succeeds(tmp_path: Path) -> None:
    commands = console_commands(PAGE.read_text())
    assert len(commands) == 4 and all(DOC_URL in command for command in commands)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with running_simulator("vulnerable") as (url, app):
        for command in commands:
            result = subprocess.run(
                ["bash", "-c", command.replace(DOC_URL, url)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
            if "--dry-run" in command:
                assert "estimated time" in " ".join(result.stdout.split())
                assert not app.state.requests  # the plan sends nothing
    report = json.loads((tmp_path / "llm07.json").read_text())
    _, llm07 = read_jsonl(tmp_path / "llm07.jsonl")
    assert report["run"]["sent"] == 0 and report["run"]["already_done"] == len(llm07)  # the resume sent nothing
    assert report["findings"] and all(f["owasp"] == "LLM07" for f in report["findings"])
    _, injections = read_jsonl(tmp_path / "pi.jsonl")
    assert {record.strategies for record in injections} == {(), ("base64",), ("leetspeak", "roleplay")}
    assert {record.repeat for record in injections} == {0, 1}  # repeats count from 0
