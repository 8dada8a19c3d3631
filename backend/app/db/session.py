"""Engine and session factory.

SQLite is tuned for an embedded server with a worker thread beside it (WAL, busy timeout, foreign keys on);
PostgreSQL gets a bounded, health-checked pool. `engine` is created lazily on first use so that importing this
module (as the migration guide does: `from app.db.session import engine`) never touches the disk.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings


def make_engine(url: str, *, sqlite_foreign_keys: bool = True, echo: bool = False) -> Engine:
    """Create an engine for `url` with the per-backend settings described in the module docstring.

    Migrations pass `sqlite_foreign_keys=False`: SQLite's batch mode rebuilds tables, and dropping a
    referenced table with foreign keys enforced would fail.
    """
    settings = get_settings()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000})
        _tune_sqlite(engine, foreign_keys=sqlite_foreign_keys, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
    )


def _tune_sqlite(engine: Engine, *, foreign_keys: bool, busy_timeout_ms: int) -> None:
    """Set the pragmas on every new SQLite connection."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    return make_engine(get_settings().effective_database_url)


@lru_cache(maxsize=1)
def get_sessionmaker() -> sessionmaker[Session]:
    """The process-wide session factory bound to `get_engine()`."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def SessionLocal() -> Session:  # noqa: N802 - the name the migration guide and FastAPI's template use
    """A new session on the configured database."""
    return get_sessionmaker()()


def __getattr__(name: str) -> Any:
    """Lazy module attribute `engine`, so `from app.db.session import engine` works as the guide shows."""
    if name == "engine":
        return get_engine()
    raise AttributeError(name)
