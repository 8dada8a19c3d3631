"""Alembic environment for SecureAI.

Which database: a connection handed over in `config.attributes["connection"]` (tests, `secureai db`), else
`-x url=...`, else `sqlalchemy.url` set programmatically, else the settings (DATABASE_URL or the embedded
SQLite file). Types and server defaults are compared so `alembic check` sees real drift; SQLite runs in batch
mode because it cannot ALTER most things; PostgreSQL takes an advisory lock so two `upgrade head` started at
once apply each revision exactly once.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, Engine, text

from app.config import get_settings, normalise_database_url
from app.db.models import Base
from app.db.session import make_engine

#: Arbitrary but fixed key of the PostgreSQL advisory lock that serialises migration runs ("SecAI").
MIGRATION_LOCK_KEY = 0x53656341_49

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    """The URL to migrate, by the priority described in the module docstring."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return normalise_database_url(url)
    return get_settings().effective_database_url


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    """Configure the migration context identically for online and offline runs."""
    dialect = connection.dialect.name if connection is not None else (url or "").split(":", 1)[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=dialect.startswith("sqlite"),
        literal_binds=connection is None,
        # `secureai db upgrade` passes a callback to print each revision as it is applied.
        on_version_apply=config.attributes.get("on_version_apply"),
        dialect_opts={"paramstyle": "named"} if connection is None else {},
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def run_with_connection(connection: Connection) -> None:
    """Run the migrations on `connection`, serialised by an advisory lock on PostgreSQL."""
    configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Held until this transaction commits; a second runner waits here, then reads the version
            # table afresh inside run_migrations() and finds nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def vacuum_if_requested(connection: Connection) -> None:
    """VACUUM a SQLite database after a revision asked for it (`config.attributes["vacuum"]`).

    A revision that removes plaintext secrets asks for this: SQLite keeps deleted and overwritten values in
    free pages and the WAL until the file is rebuilt. VACUUM cannot run inside a transaction, so it runs
    here, after the migrations committed, in autocommit mode; the checkpoint then empties the WAL.
    """
    if not config.attributes.pop("vacuum", False) or connection.dialect.name != "sqlite":
        return
    autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
    autocommit.exec_driver_sql("VACUUM")
    autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def run_migrations_online() -> None:
    """Run against a live database, reusing a connection given by the caller when there is one."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_with_connection(given)
        return
    if isinstance(given, Engine):  # pytest-alembic hands over an engine
        with given.connect() as connection:
            run_with_connection(connection)
            connection.commit()
            vacuum_if_requested(connection)
        return
    engine = make_engine(database_url(), sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            run_with_connection(connection)
            connection.commit()
            vacuum_if_requested(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
