"""The commands in docs/migrations.md work as written: every `console` block, line by line, in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import BACKEND_DIR

GUIDE = BACKEND_DIR.parent / "docs" / "migrations.md"


def console_commands(markdown: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", markdown, flags=re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_every_console_command_of_the_migration_guide_succeeds(tmp_path: Path) -> None:
    commands = console_commands(GUIDE.read_text())
    assert len(commands) >= 20
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'guide.db'}",
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
    backup = tmp_path / "secureai-guide-backup.db"  # the guide's ${TMPDIR:-/tmp}/secureai-guide-backup.db
    assert backup.read_bytes().startswith(b"SQLite format 3")
