"""Backups hold every secret of the database, so (issue 11): `secureai db backup` and `db upgrade --backup`
write them owner-only (0600) from the first byte, on SQLite and PostgreSQL, and refuse a directory that does
not exist instead of creating it; a failed backup leaves nothing behind.

The CLI runs in-process (CliRunner) under a umask of 0, so a file created with default permissions would be
world-readable and world-writable. An audit hook looks at the backup directory at the moment the writer
(sqlite3 or pg_dump) starts: the file it writes into exists already, 0600; no writer creates it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from app.cli.main import app
from app.config import get_settings
from app.db.migrate import upgrade

#: Directories the audit hook watches (the hook itself cannot be removed, so it is switched by this list).
WATCHED: list[Path] = []
#: What the hook saw: (event, {file name: mode}) at the moment a writer started.
SEEN: list[tuple[str, dict[str, int]]] = []


def _modes(directory: Path) -> dict[str, int]:
    return {entry.name: stat.S_IMODE(entry.stat().st_mode) for entry in directory.iterdir() if entry.is_file()}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not WATCHED or event not in ("sqlite3.connect", "subprocess.Popen"):
        return
    if event == "subprocess.Popen" and "pg_dump" not in str(args[0]):
        return
    if event == "subprocess.Popen":
        assert not any(str(arg).startswith(("--file", "-f")) for arg in args[1]), args[1]  # pg_dump makes no file
    for directory in WATCHED:
        SEEN.append((event, _modes(directory)))


sys.addaudithook(_hook)


@pytest.fixture
def wide_open_umask() -> Iterator[None]:
    """umask 0: whatever is created with default permissions is rw for everyone."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "backups-here"
    directory.mkdir()
    WATCHED.append(directory)
    SEEN.clear()
    try:
        yield directory
    finally:
        WATCHED.clear()


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def run(*args: str) -> Result:
    get_settings.cache_clear()
    return CliRunner().invoke(app, list(args))


def test_a_backup_is_owner_only_from_its_first_byte(database: str, watched: Path, wide_open_umask: None) -> None:
    if database.startswith("postgresql") and shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is missing: install the PostgreSQL client tools")
    into_directory = run("db", "backup", "-o", str(watched))
    assert into_directory.exit_code == 0, into_directory.output
    named = run("db", "backup", "-o", str(watched / "named.backup"))
    assert named.exit_code == 0, named.output
    again = run("db", "backup", "-o", str(watched / "named.backup"))  # replaced, still 0600
    assert again.exit_code == 0, again.output

    modes = _modes(watched)
    assert len(modes) == 2 and "named.backup" in modes, modes
    assert set(modes.values()) == {0o600}, {name: oct(mode) for name, mode in modes.items()}
    # at the moment each writer started, every file in the directory was already 0600
    writer = "sqlite3.connect" if database.startswith("sqlite") else "subprocess.Popen"
    assert [event for event, _ in SEEN].count(writer) >= 3, SEEN
    for event, seen in SEEN:
        if event == writer:
            assert seen and set(seen.values()) == {0o600}, (event, {name: oct(mode) for name, mode in seen.items()})
    # and it is a backup
    backup = watched / "named.backup"
    if database.startswith("sqlite"):
        assert backup.read_bytes().startswith(b"SQLite format 3")
    else:
        assert backup.read_bytes().startswith(b"PGDMP")
        if shutil.which("pg_restore"):
            listing = subprocess.run(["pg_restore", "--list", str(backup)], capture_output=True, text=True, check=False)
            assert listing.returncode == 0 and "TABLE public targets" in listing.stdout, listing.stderr


def test_upgrade_with_backup_writes_an_owner_only_file_in_an_owner_only_directory(
    database: str, wide_open_umask: None
) -> None:
    result = run("db", "upgrade", "--backup")
    assert result.exit_code == 0, result.output
    directory = get_settings().data_dir / "backups"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    modes = _modes(directory)
    assert len(modes) == 1 and set(modes.values()) == {0o600}, modes


@pytest.mark.parametrize("shape", ["missing directory/", "missing directory/file.db", "missing/nested/"])
def test_a_directory_that_does_not_exist_is_refused_not_created(
    database: str, tmp_path: Path, shape: str, wide_open_umask: None
) -> None:
    output = f"{tmp_path}/{shape}"  # as typed: a trailing slash says "a directory"
    result = run("db", "backup", "-o", output)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in result.output, result.output
    assert not (tmp_path / "missing directory").exists() and not (tmp_path / "missing").exists()


def test_a_failed_backup_leaves_nothing_behind(
    database_url: str, watched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_dump fails (the server refuses the database name): no partial file stays, the answer is one line."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the SQLite backup has no external tool to fail")
    monkeypatch.setenv("DATABASE_URL", database_url.rsplit("/", 1)[0] + "/no_such_database_here")
    result = run("db", "backup", "-o", str(watched / "x.dump"))
    assert result.exit_code == 1 and "pg_dump failed" in result.output, result.output
    assert list(watched.iterdir()) == []
