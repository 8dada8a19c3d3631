"""Throw-away databases on SQLite or a PostgreSQL server, for self-tests, tests and benchmarks."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import normalise_database_url


@contextmanager
def temporary_database(server_url: str | None = None, *, prefix: str = "secureai_tmp") -> Iterator[str]:
    """Yield the URL of a new empty database, dropped afterwards.

    `server_url` None or sqlite: a file in a temporary directory. PostgreSQL: `CREATE DATABASE` on the server
    that `server_url` points at (its database is only used to connect), `DROP DATABASE ... WITH (FORCE)` after.
    """
    if server_url is None or make_url(normalise_database_url(server_url)).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix=prefix) as directory:
            yield f"sqlite:///{Path(directory) / 'secureai.db'}"
        return
    admin_url = make_url(normalise_database_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
