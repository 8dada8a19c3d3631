"""The commands in the operator guides work as written: every `console` block, line by line, in order, on a
temporary SQLite database and on a temporary PostgreSQL database (DATABASE_URL set for every command)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND_DIR

DOCS = BACKEND_DIR.parent / "docs"
#: The guides whose console blocks are run, with how many commands each has at least (a block renamed to
#: `bash` by mistake would otherwise drop out of the test silently); 0: the guide may have none yet (skipped,
#: saying so, until it has).
GUIDES = {"migrations.md": 20, "deploy.md": 0}


def console_commands(markdown: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", markdown, flags=re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_every_console_command_of_the_guide_succeeds(guide: str, database_url: str, tmp_path: Path) -> None:
    path = DOCS / guide
    if not path.exists():
        pytest.skip(f"docs/{guide} is not written yet")
    commands = console_commands(path.read_text())
    assert len(commands) >= GUIDES[guide]
    if not commands:
        pytest.skip(f"docs/{guide} has no console block to run yet")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": database_url,
        "SECUREAI_DATA_DIR": str(tmp_path / "data"),
        "TMPDIR": str(tmp_path),  # the guide's scratch files (${TMPDIR:-/tmp}/...) land in this run's own directory
    }
    shared = [command for command in commands if "/tmp/" in command.replace("${TMPDIR:-/tmp}", "")]  # noqa: S108
    assert not shared, shared  # a fixed path would be shared between runs (and users)
    for command in commands:
        result = subprocess.run(
            ["bash", "-c", command], cwd=BACKEND_DIR, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
    if guide == "migrations.md":
        backup = tmp_path / "secureai-guide.backup"  # the guide's ${TMPDIR:-/tmp}/secureai-guide.backup
        expected = b"SQLite format 3" if database_url.startswith("sqlite") else b"PGDMP"
        assert backup.read_bytes().startswith(expected)
