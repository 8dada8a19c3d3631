"""Database backups before risky operations: SQLite's online backup API, pg_dump for PostgreSQL.

The SQLite backup copies a consistent snapshot while the server keeps running. PostgreSQL backups use the
server's own tool (custom format, restorable with pg_restore); its password, if any, goes through the
environment, never the command line, so it does not show in the process list.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """The backup could not be made; the message says why and what to do."""


def default_backup_path(url: str, directory: Path) -> Path:
    """`<directory>/secureai-<UTC timestamp>.<db|dump>` for the given database URL."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "db" if make_url(url).get_backend_name() == "sqlite" else "dump"
    return directory / f"secureai-{stamp}.{suffix}"


def backup_database(url: str, destination: Path) -> Path:
    """Write a backup of the database at `url` to `destination` and return its path."""
    parsed = make_url(url)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BackupError("an in-memory SQLite database has nothing on disk to back up")
        source_path = Path(parsed.database)
        if not source_path.exists():
            raise BackupError(f"the SQLite database {source_path} does not exist")
        with sqlite3.connect(source_path) as source, sqlite3.connect(destination) as target:
            source.backup(target)
        return destination
    if parsed.get_backend_name() == "postgresql":
        return _pg_dump(url, destination)
    raise BackupError(f"no backup method for {parsed.get_backend_name()} databases")


def _pg_dump(url: str, destination: Path) -> Path:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(
            "pg_dump is not installed, so PostgreSQL cannot be backed up from here. Install the PostgreSQL "
            "client tools (Debian: apt-get install postgresql-client) or back up on the server."
        )
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    libpq_url = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    completed = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={destination}", f"--dbname={libpq_url}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BackupError(f"pg_dump failed: {completed.stderr.strip() or completed.returncode}")
    return destination
