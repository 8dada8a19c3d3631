"""A session on the configured database for CLI commands, with database trouble as one-line errors.

Unreachable server (the first connection fails): exit 3, as for an unreachable target; a missing table: "run
`secureai db upgrade`"; anything else SQLAlchemy raises, a missing column included: exit 1 with the driver's
one-line cause, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.cli.output import ExitCode, fail
from app.config import get_settings
from app.db.errors import describe_db_error, explain_db_error
from app.db.session import make_engine

__all__ = ["database_session"]


@contextmanager
def database_session(required_tables: Sequence[str] = (), url: str | None = None) -> Iterator[Session]:
    """A session on `url` (default: the configured database), committed when the block ends without error;
    checks `required_tables` exist first. An exception from the block rolls back and propagates."""
    engine = make_engine(url or get_settings().effective_database_url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        try:
            with engine.connect() as connection:
                missing = [name for name in required_tables if not inspect(connection).has_table(name)]
        except SQLAlchemyError as error:
            fail(f"cannot reach the database {shown}: {describe_db_error(error)}", ExitCode.UNREACHABLE)
        if missing:
            fail(f"the database {shown} lacks the table(s) {', '.join(missing)}; run `secureai db upgrade` first")
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except SQLAlchemyError as error:
        fail(f"database error: {explain_db_error(error)}")
    finally:
        engine.dispose()
