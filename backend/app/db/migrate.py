"""Alembic driven from Python, for `secureai db`, scripts/test_migration.py and the tests.

These functions run the same env.py and revision files as the `alembic` command does; they only save the
caller from parsing Alembic's console output. The migrations are found inside the installed package
(`app/db/migrations`, shipped in the wheel), never through an alembic.ini in the working directory, so every
`secureai db` command works from any directory. backend/alembic.ini stays for the guide's `cd backend && alembic
...` and names the same directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from app.config import get_settings
from app.db.models import Base

#: The revision scripts and env.py, located from the package itself (a checkout or an installed wheel alike).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The legacy deployment's only revision; databases made by `create_all` are treated as being at it.
LEGACY_REVISION = "6f650d08cf3d"
LEGACY_TABLES = ("users", "scans", "vulnerabilities", "compliance_mappings", "audit_logs")


def alembic_config(url: str | None = None) -> Config:
    """Config for the packaged migrations (or SECUREAI_MIGRATIONS_DIR); `url` overrides the settings' database
    for this config only. No ini file is read, so env.py leaves the caller's logging alone."""
    config = Config()
    config.set_main_option("script_location", str(get_settings().migrations_dir or MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def script_directory() -> ScriptDirectory:
    """The revision scripts shipped with this package."""
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> tuple[str, ...]:
    """All heads; more than one means two branches need a merge revision."""
    return tuple(script_directory().get_heads())


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """Revisions stamped in the database (empty for a fresh or unstamped database)."""
    with engine.connect() as connection:
        return tuple(MigrationContext.configure(connection).get_current_heads())


def is_unstamped_legacy(engine: Engine) -> bool:
    """True for a database with the legacy tables but no alembic_version (made by `create_all`)."""
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
    return set(LEGACY_TABLES) <= names and "alembic_version" not in names


def drift(engine: Engine) -> list[Any]:
    """Differences between the models and the database, as Alembic's autogenerate sees them."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "target_metadata": Base.metadata,
            },
        )
        return list(compare_metadata(context, Base.metadata))


#: Called with a line such as "6f650d08cf3d -> a1c3e5f7b9d2: lower-case enumerations" per applied step.
StepCallback = Callable[[str], None]


def _step_reporter(on_step: StepCallback | None) -> Callable[..., None] | None:
    if on_step is None:
        return None

    def report(*, step: Any, **_: Any) -> None:
        source = ", ".join(step.source_revision_ids) or "base"
        target = ", ".join(step.destination_revision_ids) or "base"
        on_step(f"{source} -> {target}: {step.up_revision.doc if step.is_upgrade else 'downgraded'}")

    return report


def upgrade(url: str, target: str = "head", on_step: StepCallback | None = None) -> None:
    """`alembic upgrade target` against `url`."""
    config = alembic_config(url)
    config.attributes["on_version_apply"] = _step_reporter(on_step)
    command.upgrade(config, target)


def downgrade(url: str, target: str, on_step: StepCallback | None = None) -> None:
    """`alembic downgrade target` against `url`."""
    config = alembic_config(url)
    config.attributes["on_version_apply"] = _step_reporter(on_step)
    command.downgrade(config, target)


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of the history, newest first."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool
    path: str


def history() -> list[RevisionInfo]:
    """The revision history, newest first."""
    heads = set(head_revisions())
    revisions = []
    for script in script_directory().walk_revisions():
        down = script.down_revision
        revisions.append(
            RevisionInfo(
                revision=script.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=script.doc or "",
                is_head=script.revision in heads,
                path=Path(script.path).name,
            )
        )
    return revisions
