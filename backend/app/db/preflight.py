"""Checks run by env.py on the plan of a migration command before its first step touches the database.

Alembic works out the whole plan (which revisions to run, or which versions to stamp) before it runs any of
it; env.py hands that plan to `check_plan`, which refuses, with one line and nothing changed, when:

- a stamp would mark a database that still holds the legacy schema as migrated past `6f650d08cf3d`: the
  revisions that convert its data (enumerations, plaintext credentials) would never run;
- a revision to be applied cannot run as things are: each revision module may define
  `preflight_upgrade(connection)`, called with the database as it is now, which raises
  `MigrationPreconditionError` (revision c4e8f1a2b3d5 does, when there are legacy credentials to seal and no
  SECUREAI_SECRET_KEY).

Both errors are Alembic `CommandError`s, so the `alembic` command prints them as one `FAILED:` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from app.db.errors import MigrationPreconditionError
from app.db.migrate import LEGACY_REVISION, LEGACY_TABLES, script_directory

#: Made by the first revision after the legacy one; its absence beside the legacy tables means the legacy schema.
FIRST_NEW_TABLE = "migration_fixups"


def holds_legacy_schema(connection: Connection) -> bool:
    """True when the database has the legacy tables and none of what revision a1c3e5f7b9d2 added."""
    names = set(inspect(connection).get_table_names())
    return set(LEGACY_TABLES) <= names and FIRST_NEW_TABLE not in names


def _has_scanner_type(connection: Connection) -> bool:
    return any(column["name"] == "scanner_type" for column in inspect(connection).get_columns("scans"))


def adoption_commands(connection: Connection, current: tuple[str, ...], *, known: bool = True) -> str:
    """The commands that bring a database holding the legacy schema to head with its data converted.

    Unstamped or at 6f650d08cf3d: `alembic upgrade head` (the first revision adopts unstamped legacy tables in
    place). `current` is the database's version now (empty: unstamped). Stamped at some
    other revision (by hand): back to 6f650d08cf3d first, or to base when `scans.scanner_type` is missing (a
    release older than 6f650d08cf3d's schema, which only the first revision's upgrade completes); `--purge`
    when the stamped revision is unknown, since Alembic cannot step away from a revision it cannot find.
    """
    if not current or (known and current == (LEGACY_REVISION,)):
        return "`alembic upgrade head` (it adopts the legacy tables in place) or `secureai db upgrade --backup`"
    purge = "" if known else "--purge "
    target = LEGACY_REVISION if _has_scanner_type(connection) else "base"
    return f"`alembic stamp {purge}{target}` then `alembic upgrade head`"


def _check_stamp(destination: tuple[str, ...], connection: Connection, current: tuple[str, ...], known: bool) -> None:
    """Refuse a stamp that would mark the legacy schema as something it is not."""
    if destination == () or not holds_legacy_schema(connection):
        return
    if destination == (LEGACY_REVISION,):
        if _has_scanner_type(connection):
            return
        problem = f"it predates revision {LEGACY_REVISION} (scans.scanner_type is missing)"
    else:
        problem = (
            f"it holds the legacy SecureAI schema (revision {LEGACY_REVISION}), and the stamp would skip the "
            "revisions that convert its data"
        )
    raise MigrationPreconditionError(
        f"refusing to stamp {', '.join(destination)}: {problem}; run "
        f"{adoption_commands(connection, current, known=known)}. Nothing was changed."
    )


def check_plan(
    steps: Sequence[Any], connection: Connection, current: tuple[str, ...] = (), *, purge: bool = False
) -> None:
    """Refuse the plan (raise) if it would stamp a legacy schema wrongly or a revision's precondition does
    not hold. `steps` are Alembic's migration steps in order; `current`: the database's version now;
    `purge`: `alembic stamp --purge` (the version it had, deleted first, may be unknown)."""
    if not steps:
        return
    infos = [step.info for step in steps]
    stamps = [info for info in infos if info.is_stamp]
    if stamps:
        destination = tuple(stamps[-1].destination_revision_ids)
        _check_stamp(destination, connection, ("unknown",) if purge else current, known=not purge)
        return
    for info in infos:
        if not info.is_upgrade:
            continue
        check = getattr(info.up_revision.module, "preflight_upgrade", None)
        if callable(check):
            check(connection)


def check_upgrade_preconditions(connection: Connection, target: str = "heads") -> None:
    """Run the `preflight_upgrade` of every revision an upgrade of this database to `target` would apply, on
    the database as it is (read-only is enough): what `alembic upgrade` checks first, for callers that want
    to know before they copy or load anything (scripts/test_migration.py)."""
    scripts = script_directory()
    current = MigrationContext.configure(connection).get_current_heads()
    applied = {script.revision for script in scripts.iterate_revisions(current, "base")} if current else set()
    pending = [script for script in scripts.iterate_revisions(target, "base") if script.revision not in applied]
    for script in reversed(pending):  # oldest first, as the upgrade applies them
        check = getattr(script.module, "preflight_upgrade", None)
        if callable(check):
            check(connection)
