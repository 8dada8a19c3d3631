"""Database backups before risky operations: SQLite's online backup API, pg_dump for PostgreSQL.

The SQLite backup copies a consistent snapshot while the server keeps running. PostgreSQL backups use the
server's own tool (custom format, restorable with pg_restore); its password, if any, goes through the
environment, never the command line, so it does not show in the process list.

A backup holds every secret the database does (sealed credentials, password hashes, the audit log), so its
file is created by us, owner-only (0600) from its first byte (pg_dump writes into the file we opened, never a
file of its own), and renamed into place only when complete. Its directory must exist: a backup is never
written into a directory made up on the spot, except SecureAI's own `<data dir>/backups` (created 0700).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

#: Permissions of a backup file: read and write for its owner only.
BACKUP_MODE = 0o600


class BackupError(RuntimeError):
    """The backup could not be made; the message says why and what to do."""


def default_backup_path(url: str, directory: Path) -> Path:
    """`<directory>/secureai-<UTC timestamp>.<db|dump>` for the given database URL."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "db" if make_url(url).get_backend_name() == "sqlite" else "dump"
    return directory / f"secureai-{stamp}.{suffix}"


def backup_directory(data_dir: Path) -> Path:
    """SecureAI's own backup directory, `<data dir>/backups`, created owner-only (0700) when missing."""
    directory = data_dir / "backups"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(f"cannot create the backup directory {directory}: {error.strerror}") from None
    return directory


def resolve_output(url: str, output: str) -> Path:
    """Where `--output` asks for the backup: into an existing directory (a timestamped name), or a file in an
    existing directory (replaced if it exists). A directory that does not exist is refused, never created; so
    is a new name without an extension (`-o /backups/nightly`), which reads as a directory as much as a file."""
    path = Path(output).expanduser()
    if path.is_dir():
        return default_backup_path(url, path)
    if output.endswith(("/", os.sep)) or not path.parent.is_dir():
        missing = path if output.endswith(("/", os.sep)) else path.parent
        raise BackupError(f"the directory {missing} does not exist; create it first (backups never create one)")
    if not path.exists() and not path.suffix:
        raise BackupError(
            f"the directory {path} does not exist; create it first (backups never create one), or name a file "
            f"with an extension, e.g. {path}.{'db' if make_url(url).get_backend_name() == 'sqlite' else 'dump'}"
        )
    return path


def _create_private(directory: Path, name: str) -> tuple[int, Path]:
    """A new, empty, owner-only (0600) file in `directory`, open for writing: mkstemp creates it with O_EXCL and
    mode 0600, so it never exists with wider permissions, and never over an existing file or a link."""
    try:
        descriptor, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory)
    except (FileNotFoundError, NotADirectoryError):
        raise BackupError(
            f"the directory {directory} does not exist; create it first (backups never create one)"
        ) from None
    except OSError as error:
        raise BackupError(f"cannot write a backup in {directory}: {error.strerror}") from None
    os.fchmod(descriptor, BACKUP_MODE)  # 0600 already (a umask only takes bits away); said twice on purpose
    return descriptor, Path(path)


def backup_database(url: str, destination: Path) -> Path:
    """Write a backup of the database at `url` to `destination` (mode 0600) and return its path.

    The backup is written to a new owner-only file beside `destination` and renamed over it when complete, so
    `destination` is never half-written, never has wider permissions, and a link there is replaced, not
    followed."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BackupError("an in-memory SQLite database has nothing on disk to back up")
        source_path = Path(parsed.database)
        if not source_path.exists():
            raise BackupError(f"the SQLite database {source_path} does not exist")
    elif backend != "postgresql":
        raise BackupError(f"no backup method for {backend} databases")
    if destination.is_dir():
        raise BackupError(f"{destination} is a directory")
    descriptor, partial = _create_private(destination.parent, destination.name)
    try:
        if backend == "sqlite":
            os.close(descriptor)  # SQLite opens the empty file itself; its journal takes the file's mode (0600)
            descriptor = -1
            _sqlite_backup(source_path, partial)
        else:
            _pg_dump(url, descriptor)
            os.fsync(descriptor)
        try:
            partial.replace(destination)
        except OSError as error:
            raise BackupError(f"cannot write {destination}: {error.strerror}") from None
    except BaseException:
        partial.unlink(missing_ok=True)  # never a half-written backup
        raise
    finally:
        if descriptor >= 0:
            os.close(descriptor)
    return destination


def _sqlite_backup(source_path: Path, destination: Path) -> None:
    try:
        with closing(sqlite3.connect(source_path)) as source, closing(sqlite3.connect(destination)) as target:
            source.backup(target)
    except sqlite3.Error as error:
        raise BackupError(f"the SQLite backup failed: {error}") from None


def _pg_dump(url: str, descriptor: int) -> None:
    """pg_dump (custom format) written to the open backup file: pg_dump never creates the file itself."""
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
        [pg_dump, "--format=custom", "--no-owner", f"--dbname={libpq_url}"],
        env=env,
        stdout=descriptor,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BackupError(f"pg_dump failed: {completed.stderr.strip() or completed.returncode}")
