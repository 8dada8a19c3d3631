"""Alembic environment for SecureAI.

Which database: a connection handed over in `config.attributes["connection"]` (tests, `secureai db`), else
`-x url=...`, else `sqlalchemy.url` set programmatically, else the settings (DATABASE_URL or the embedded
SQLite file). Types and server defaults are compared so `alembic check` sees real drift; SQLite runs in batch
mode because it cannot ALTER most things; PostgreSQL takes an advisory lock so two `upgrade head` started at
once apply each revision exactly once.

A run is one transaction on both servers: on SQLite too (Python's sqlite3 driver would otherwise commit each
DDL statement as it goes), so a failed revision leaves the database exactly as it was. Before the first step,
the plan is checked (`app.db.preflight`): a stamp that would skip the legacy data conversion, or a revision
whose precondition does not hold (no SECUREAI_SECRET_KEY for legacy credentials), is refused with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, event, text

from app.config import get_settings, normalise_database_url
from app.db.models import Base
from app.db.preflight import check_plan
from app.db.session import make_engine

#: Arbitrary but fixed key of the PostgreSQL advisory lock that serialises migration runs ("SecAI").
MIGRATION_LOCK_KEY = 0x53656341_49

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    """The URL to migrate, by the priority described in the module docstring."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return normalise_database_url(url)
    return get_settings().effective_database_url


Plan = Callable[[tuple[str, ...], Any], Iterable[Any]]


def configure(connection: Connection | None = None, url: str | None = None, plan: Plan | None = None) -> None:
    """Configure the migration context identically for online and offline runs; `plan` replaces the
    command's function that lists the steps to run."""
    dialect = connection.dialect.name if connection is not None else (url or "").split(":", 1)[0]
    sqlite = dialect.startswith("sqlite")
    extra: dict[str, Any] = {"fn": plan} if plan is not None else {}
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=sqlite,
        # one transaction for the whole run on SQLite as well (Alembic assumes SQLite cannot roll back DDL;
        # it can, once the driver stops committing on its own: see `transactional_sqlite`)
        transactional_ddl=True if sqlite else None,
        literal_binds=connection is None,
        # `secureai db upgrade` passes a callback to print each revision as it is applied.
        on_version_apply=config.attributes.get("on_version_apply"),
        dialect_opts={"paramstyle": "named"} if connection is None else {},
        **extra,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`); PostgreSQL only."""
    url = database_url()
    if url.startswith("sqlite"):
        raise CommandError(
            "offline SQL (--sql) cannot be generated for SQLite: its migrations rebuild tables in batch mode "
            "from the live table definitions, which --sql never reads; back up (`secureai db backup`) and run "
            "`alembic upgrade head` against the database instead"
        )
    configure(url=url)
    with context.begin_transaction():
        context.run_migrations()


def checked(plan: Plan, connection: Connection) -> Plan:
    """The command's plan, checked by `check_plan` before Alembic runs its first step."""

    def steps(heads: tuple[str, ...], migration_context: Any) -> list[Any]:
        planned = list(plan(heads, migration_context))
        check_plan(planned, connection, tuple(heads), purge=bool(migration_context.purge))
        return planned

    return steps


def _begin(connection: Connection) -> None:
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":  # VACUUM runs outside one
        connection.exec_driver_sql("BEGIN")


@contextmanager
def transactional_sqlite(target: Engine | Connection) -> Iterator[None]:
    """While the block runs, make every transaction on an SQLite `target` a real one: emit BEGIN ourselves.

    Python's sqlite3 driver begins a transaction only before INSERT, UPDATE and DELETE, so the DDL of a
    revision (CREATE, ALTER, the batch table copies) was committed statement by statement and a failed
    revision left half of itself behind. With an explicit BEGIN everything up to COMMIT rolls back together.
    """
    if target.dialect.name != "sqlite" or (isinstance(target, Connection) and target.in_transaction()):
        yield
        return
    event.listen(target, "begin", _begin)
    try:
        yield
    finally:
        event.remove(target, "begin", _begin)


def run_with_connection(connection: Connection) -> None:
    """Run the migrations on `connection`, serialised by an advisory lock on PostgreSQL."""
    configure(connection=connection)
    plan = context.get_context().opts.get("fn")
    if plan is not None:  # the command's list of steps, checked before the first one runs
        configure(connection=connection, plan=checked(plan, connection))
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
        with transactional_sqlite(given):
            run_with_connection(given)
        return
    if isinstance(given, Engine):  # pytest-alembic hands over an engine
        with transactional_sqlite(given), given.connect() as connection:
            run_with_connection(connection)
            connection.commit()
            vacuum_if_requested(connection)
        return
    engine = make_engine(database_url(), sqlite_foreign_keys=False)
    try:
        with transactional_sqlite(engine), engine.connect() as connection:
            run_with_connection(connection)
            connection.commit()
            vacuum_if_requested(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
