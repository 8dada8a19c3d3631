"""Diagnose the database against the migrations, for `secureai db doctor`.

Each check answers one of the migration guide's troubleshooting cases and, when something is wrong, names
the command that fixes it, so an operator never has to read Alembic's internals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.db.errors import describe_db_error
from app.db.migrate import (
    LEGACY_REVISION,
    current_revisions,
    drift,
    head_revisions,
    is_unstamped_legacy,
    script_directory,
)
from app.db.preflight import adoption_commands, holds_legacy_schema


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what was found and, if it needs action, the command to run."""

    check: str
    level: Level
    message: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(engine: Engine) -> list[Finding]:
    """Run every check that applies; stop early when the database cannot be reached."""
    findings: list[Finding] = []
    heads = head_revisions()
    if len(heads) > 1:
        findings.append(
            Finding(
                "heads",
                Level.ERROR,
                f"the migrations have {len(heads)} heads ({', '.join(heads)}): two branches were never merged",
                'cd backend && alembic merge heads -m "merge heads"',
            )
        )
    else:
        findings.append(Finding("heads", Level.OK, f"one head: {heads[0]}"))

    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = describe_db_error(error)
        findings.append(
            Finding(
                "reachable",
                Level.ERROR,
                f"cannot connect to {engine.url.render_as_string(hide_password=True)}: {reason}",
                "check DATABASE_URL and that the database server is running",
            )
        )
        return findings
    findings.append(Finding("reachable", Level.OK, f"connected to {engine.url.render_as_string()}"))

    current = current_revisions(engine)
    if not current:
        if is_unstamped_legacy(engine):
            findings.append(
                Finding(
                    "revision",
                    Level.WARNING,
                    "legacy SecureAI database without an Alembic stamp (made by create_all); the first revision "
                    "adopts it in place (do not stamp it: `alembic stamp head` would skip its data conversion)",
                    "secureai db upgrade --backup (or: cd backend && alembic upgrade head)",
                )
            )
        else:
            findings.append(
                Finding("revision", Level.WARNING, "empty database, no migration applied yet", "secureai db upgrade")
            )
        return findings

    with engine.connect() as connection:
        legacy_schema = holds_legacy_schema(connection)
    scripts = script_directory()
    for revision in current:
        try:
            scripts.get_revision(revision)
        except CommandError:
            findings.append(
                Finding(
                    "revision",
                    Level.ERROR,
                    f"the database is at revision {revision}, which this version of SecureAI does not know "
                    "(migrated by a newer release, or a revision file was deleted)",
                    _unknown_revision_fix(engine, current, legacy_schema),
                )
            )
            return findings
    if legacy_schema and current != (LEGACY_REVISION,):
        with engine.connect() as connection:
            fix = adoption_commands(connection, current).replace("`", "")
        findings.append(
            Finding(
                "revision",
                Level.ERROR,
                f"the database is stamped at {', '.join(current)} but holds the legacy schema of "
                f"{LEGACY_REVISION} (stamped by hand?): its data was never converted",
                f"cd backend && {fix}",
            )
        )
        return findings
    if set(current) != set(heads):
        findings.append(
            Finding(
                "revision",
                Level.WARNING,
                f"the database is at {', '.join(current)}, behind the head {', '.join(heads)}",
                "secureai db upgrade --backup",
            )
        )
        return findings
    findings.append(Finding("revision", Level.OK, f"at head {', '.join(current)}"))

    differences = drift(engine)
    if differences:
        findings.append(
            Finding(
                "drift",
                Level.ERROR,
                f"{len(differences)} difference(s) between the models and the database",
                "secureai db check (details); write a revision: cd backend && alembic revision --autogenerate -m ...",
            )
        )
    else:
        findings.append(Finding("drift", Level.OK, "models and database agree"))
    findings.extend(_fixups(engine))
    return findings


def _unknown_revision_fix(engine: Engine, current: tuple[str, ...], legacy_schema: bool) -> str:
    """Alembic cannot step away from a revision it cannot find, so every stamp needs --purge here."""
    if legacy_schema:
        with engine.connect() as connection:
            return "cd backend && " + adoption_commands(connection, current, known=False).replace("`", "")
    return (
        "install the SecureAI release that made it, or after checking the schema by hand (secureai db check): "
        "cd backend && alembic stamp --purge head"
    )


def _fixups(engine: Engine) -> list[Finding]:
    """Report legacy values the data migrations had to change (kept in migration_fixups)."""
    with engine.connect() as connection:
        if "migration_fixups" not in inspect(connection).get_table_names():
            return []
        rows = connection.execute(
            text(
                "SELECT table_name, column_name, reason, COUNT(*) FROM migration_fixups "
                "GROUP BY table_name, column_name, reason ORDER BY table_name, column_name"
            )
        ).all()
    return [
        Finding(
            "legacy-data",
            Level.WARNING,
            f"{count} legacy value(s) of {table}.{column} were changed on upgrade ({reason}); originals are kept "
            "in table migration_fixups and restored on downgrade",
            f"SELECT * FROM migration_fixups WHERE table_name = '{table}' AND column_name = '{column}'",
        )
        for table, column, reason, count in rows
    ]
