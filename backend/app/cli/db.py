"""`secureai db`: migrate, inspect, back up and diagnose the database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from alembic.util.exc import CommandError
from rich.logging import RichHandler
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.cli.output import ExitCode, console, err_console, fail, print_json
from app.config import get_settings
from app.db import migrate
from app.db.backup import BackupError, backup_database, backup_directory, default_backup_path, resolve_output
from app.db.doctor import Level, diagnose
from app.db.errors import MigrationPreconditionError, describe_db_error, explain_db_error
from app.db.session import make_engine

app = typer.Typer(
    help="Migrate, inspect, back up and diagnose the SecureAI database (DATABASE_URL, default embedded SQLite).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]


def _url() -> str:
    return get_settings().effective_database_url


def _shown_url() -> str:
    return make_engine(_url()).url.render_as_string(hide_password=True)


@contextmanager
def _database() -> Iterator[Engine]:
    """An engine on the configured database, checked reachable first (exit 3 if not); later database and
    migration errors (a missing column, an unknown revision) are one line with their cause, exit 1."""
    engine = make_engine(_url(), sqlite_foreign_keys=False)
    try:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            fail(f"cannot reach the database {_shown_url()}: {describe_db_error(error)}", ExitCode.UNREACHABLE)
        yield engine
    except CommandError as error:
        fail(f"{error} (try `secureai db doctor`)")
    except SQLAlchemyError as error:
        fail(f"database error: {explain_db_error(error)}")
    finally:
        engine.dispose()


def _show_migration_warnings() -> None:
    """Data migrations log what they had to change on the `secureai.migrations` logger; show it."""
    logger = logging.getLogger("secureai.migrations")
    if not logger.handlers:
        logger.addHandler(RichHandler(console=err_console, show_time=False, show_path=False))
        logger.setLevel(logging.INFO)


def _make_backup(json_output: bool) -> Path:
    url = _url()
    try:
        path = backup_database(url, default_backup_path(url, backup_directory(get_settings().data_dir)))
    except BackupError as error:
        fail(f"backup failed, nothing was migrated: {error}")
    if not json_output:
        console.print(f"backup written to {path}")
    return path


def _migration_report(
    before: tuple[str, ...], after: tuple[str, ...], steps: list[str], backup_path: Path | None
) -> dict[str, object]:
    """The --json answer of upgrade and downgrade."""
    return {
        "database": _shown_url(),
        "from": list(before),
        "to": list(after),
        "steps": steps,
        "backup": str(backup_path) if backup_path else None,
    }


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    backup: Annotated[bool, typer.Option("--backup", help="Back up the database first.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Apply migrations up to REVISION. Adopts legacy databases, stamped or not, in place."""
    _show_migration_warnings()
    steps: list[str] = []
    with _database() as engine:
        before = migrate.current_revisions(engine)
        backup_path = _make_backup(json_output) if backup else None

        def on_step(line: str) -> None:
            steps.append(line)
            if not json_output:
                console.print(f"  ran {line}", highlight=False)

        try:
            migrate.upgrade(_url(), revision, on_step=on_step)
        except MigrationPreconditionError as error:
            fail(str(error), ExitCode.USAGE)
        except (CommandError, SQLAlchemyError) as error:
            # one transaction on both servers: whatever ran before the failure was rolled back with it
            cause = explain_db_error(error) if isinstance(error, SQLAlchemyError) else str(error)
            fail(f"upgrade failed and was rolled back (still at {', '.join(before) or 'no revision'}): {cause}")
        after = migrate.current_revisions(engine)
    if json_output:
        print_json(_migration_report(before, after, steps, backup_path))
    elif steps:
        console.print(f"[green]upgraded[/] {', '.join(before) or 'empty database'} -> {', '.join(after)}")
    else:
        console.print(f"already at {', '.join(after)}; nothing to do")


@app.command(context_settings={"ignore_unknown_options": True})  # so that `downgrade -1` reads -1 as a revision
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or -1 for one step back.")],
    backup: Annotated[bool, typer.Option("--backup", help="Back up the database first.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Revert migrations down to REVISION (`-1`: one step; `6f650d08cf3d`: back to the legacy schema)."""
    steps: list[str] = []
    with _database() as engine:
        before = migrate.current_revisions(engine)
        if not before:
            fail("the database has no revision to downgrade from (see `secureai db doctor`)")
        backup_path = _make_backup(json_output) if backup else None
        try:
            migrate.downgrade(_url(), revision, on_step=steps.append)
        except MigrationPreconditionError as error:
            fail(str(error), ExitCode.USAGE)
        after = migrate.current_revisions(engine)
    if json_output:
        print_json(_migration_report(before, after, steps, backup_path))
    else:
        for line in steps:
            console.print(f"  reverted {line}")
        console.print(f"[green]downgraded[/] {', '.join(before)} -> {', '.join(after) or 'base (empty)'}")


@app.command()
def current(json_output: JsonOption = False) -> None:
    """Show the database's revision and whether it is at head."""
    heads = migrate.head_revisions()
    with _database() as engine:
        revisions = migrate.current_revisions(engine)
        unstamped = not revisions and migrate.is_unstamped_legacy(engine)
    at_head = set(revisions) == set(heads)
    if json_output:
        print_json(
            {
                "database": _shown_url(),
                "current": list(revisions),
                "head": list(heads),
                "at_head": at_head,
                "unstamped_legacy": unstamped,
            }
        )
        return
    state = "[green](head)[/]" if at_head else f"[yellow](head is {', '.join(heads)})[/]"
    if unstamped:
        console.print("unstamped legacy database; run `secureai db upgrade --backup` to adopt it")
    else:
        console.print(f"{', '.join(revisions) or 'no revision'} {state}")


@app.command()
def history(json_output: JsonOption = False) -> None:
    """List the revisions, newest first."""
    revisions = migrate.history()
    if json_output:
        print_json([revision.__dict__ for revision in revisions])
        return
    table = Table("revision", "down", "message", "file")
    for item in revisions:
        head = " [green](head)[/]" if item.is_head else ""
        table.add_row(item.revision + head, item.down_revision or "base", item.message, item.path)
    console.print(table)


@app.command()
def check(json_output: JsonOption = False) -> None:
    """Compare the models with the database; exit 1 if they drifted apart."""
    with _database() as engine:
        differences = migrate.drift(engine)
    if json_output:
        print_json({"database": _shown_url(), "drift": [repr(item) for item in differences]})
    elif differences:
        err_console.print(f"[red]{len(differences)} difference(s) between the models and the database:[/]")
        for item in differences:
            err_console.print(f"  {item!r}", highlight=False)
    else:
        console.print("[green]no drift:[/] the models and the database agree")
    if differences:
        raise typer.Exit(int(ExitCode.FAILED))


@app.command()
def backup(
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="A file (replaced if it exists), or an existing directory for a timestamped one "
            "(default: data dir/backups/). The directory must exist: it is never created.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Back up the database: SQLite's online backup API, or pg_dump (custom format) for PostgreSQL.

    The backup is owner-only (0600) from its first byte, and renamed into place only once complete."""
    url = _url()
    try:
        if output:
            destination = resolve_output(url, output)
        else:
            destination = default_backup_path(url, backup_directory(get_settings().data_dir))
        path = backup_database(url, destination)
    except BackupError as error:
        fail(str(error))
    size = path.stat().st_size
    if json_output:
        print_json({"database": _shown_url(), "backup": str(path), "bytes": size})
    else:
        console.print(f"backup written to {path} ({size:,} bytes)")


@app.command()
def doctor(json_output: JsonOption = False) -> None:
    """Diagnose the database: reachable, revision known and at head, one head, no drift, legacy leftovers."""
    engine = make_engine(_url(), sqlite_foreign_keys=False)
    try:
        findings = diagnose(engine)
    finally:
        engine.dispose()
    worst = max((finding.level for finding in findings), key=[Level.OK, Level.WARNING, Level.ERROR].index)
    if json_output:
        print_json(
            {"database": _shown_url(), "status": worst.value, "findings": [finding.as_dict() for finding in findings]}
        )
    else:
        colour = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "red"}
        for finding in findings:
            console.print(
                f"[{colour[finding.level]}]{finding.level.value:>7}[/] {finding.check}: {finding.message}",
                highlight=False,
            )
            if finding.fix:
                console.print(f"          fix: [bold]{finding.fix}[/]", highlight=False)
    unreachable = any(f.check == "reachable" and f.level is Level.ERROR for f in findings)
    if unreachable:
        raise typer.Exit(int(ExitCode.UNREACHABLE))
    if worst is not Level.OK:
        raise typer.Exit(int(ExitCode.FAILED))


@app.command()
def prune(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            max=36_500,
            help="Days; default SECUREAI_SCAN_RETENTION_DAYS. Ended scans older than this go.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be deleted.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete ended scans past the retention period, with their attempts, findings and compliance mappings.

    Completed, failed and cancelled scans that ended more than N days ago go; pending and running ones stay.
    Each deletion adds a `scan_delete` record (reason: retention) to the audit log, which is never pruned.
    Run it daily (cron, a systemd timer) with SECUREAI_SCAN_RETENTION_DAYS set.
    """
    from app.cli.database import database_session
    from app.crud import housekeeping

    days = older_than if older_than is not None else get_settings().scan_retention_days
    if days is None:
        fail("no retention period: set SECUREAI_SCAN_RETENTION_DAYS or pass --older-than DAYS", ExitCode.USAGE)
    with database_session(("scans", "audit_logs")) as session:
        ids, removed = housekeeping.prune_scans(session, days, housekeeping.Actor(None), dry_run=dry_run)
    if json_output:
        print_json({"older_than_days": days, "dry_run": dry_run, "scan_ids": ids, **removed.as_dict()})
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {removed.scans} scan(s) ended more than {days} day(s) ago "
        f"({removed.attempts} attempts, {removed.findings} findings)"
        + (f": {', '.join(f'#{scan_id}' for scan_id in ids)}" if ids else ""),
        highlight=False,
    )
