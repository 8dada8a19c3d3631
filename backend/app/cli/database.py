"""A session on the configured database for CLI commands, with database trouble as one-line errors.

Unreachable server: exit 3 (as for an unreachable target); a missing table: "run `secureai db upgrade`";
anything else SQLAlchemy raises: one line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.cli.output import ExitCode, fail
from app.config import get_settings
from app.db.errors import describe_db_error
from app.db.session import make_engine

__all__ = ["database_session"]


@contextmanager
def database_session(required_tables: Sequence[str] = (), url: str | None = None) -> Iterator[Session]:
    """A session on `url` (default: the configured database), committed when the block ends without error;
    checks `required_tables` exist first. An exception from the block rolls back and propagates."""
    engine = make_engine(url or get_settings().effective_database_url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            missing = [name for name in required_tables if not inspect(connection).has_table(name)]
        if missing:
            fail(f"the database {shown} lacks the table(s) {', '.join(missing)}; run `secureai db upgrade` first")
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except OperationalError as error:
        fail(f"cannot reach the database {shown}: {describe_db_error(error)}", ExitCode.UNREACHABLE)
    except SQLAlchemyError as error:
        fail(f"database error: {describe_db_error(error)}")
    finally:
        engine.dispose()
