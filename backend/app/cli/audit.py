"""`secureai audit`: check that the audit log was not tampered with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from app.audit.anchor import AnchorFileError, check, read_anchor, write_anchor
from app.audit.verify import VerifyResult, verify_chain
from app.cli.database import database_session
from app.cli.output import ExitCode, console, fail, print_json
from app.config import get_settings

app = typer.Typer(help="Check the hash-chained audit log (docs/audit.md).", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]


def _summary(result: VerifyResult) -> str:
    """The one line of a healthy chain."""
    line = f"audit chain intact: {result.chained_rows} chained rows"
    if result.legacy_rows:
        line += (
            f" after {result.legacy_rows} legacy rows (the chain starts after the legacy rows, which carry no hashes)"
        )
    return line


def _is_hash(value: str) -> bool:
    return len(value) == 64 and all(character in "0123456789abcdefABCDEF" for character in value)


def _run_verify(url: str, anchor: str | None) -> tuple[str, VerifyResult]:
    """Verify the chain of the database at `url`; returns the URL to show and the result, or exits 3/1."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database or ""
    # verifying must not create an empty SQLite file where the operator mistyped a path
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not Path(database).is_file():
        fail(f"cannot reach the database {shown}: no such file", ExitCode.UNREACHABLE)
    with database_session(url=url) as session:
        inspector = inspect(session.connection())
        has_table = inspector.has_table("audit_logs")
        columns = {column["name"] for column in inspector.get_columns("audit_logs")} if has_table else set()
        if "row_hash" not in columns:
            fail(f"{shown} has no audit chain yet (run `secureai db upgrade`)")
        return shown, verify_chain(session, anchor=anchor)


@app.command()
def verify(
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", help="A row_hash noted earlier (`last hash`): fail unless the chain still holds it."),
    ] = None,
    anchor_file: Annotated[
        Path | None,
        typer.Option(
            "--anchor-file",
            help="Keep the chain's length and last hash in this file (written after each successful run); "
            "fail if a later chain is shorter or lacks that hash. Keep it where the database's users cannot write.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute every hash of the audit chain; exit 1 naming the first broken row, 3 if the database is down."""
    if anchor is not None and not _is_hash(anchor):
        fail("--anchor must be a row_hash: 64 hexadecimal characters", ExitCode.USAGE)
    if anchor is not None and anchor_file is not None:
        fail("give --anchor or --anchor-file, not both", ExitCode.USAGE)
    try:
        kept = read_anchor(anchor_file) if anchor_file is not None else None
    except AnchorFileError as error:
        fail(str(error), ExitCode.USAGE)
    wanted = anchor.lower() if anchor else (kept.last_hash if kept else None)
    shown, result = _run_verify(get_settings().effective_database_url, wanted)
    if kept is not None:
        result = check(kept, result)
    if result.ok and anchor_file is not None:
        try:
            write_anchor(anchor_file, result)
        except AnchorFileError as error:
            fail(f"the chain is intact, but {error}")
    if json_output:
        print_json({"database": shown, **result.as_dict()})
        if not result.ok:
            raise typer.Exit(int(ExitCode.FAILED))
        return
    if not result.ok and result.first_broken_id is None:
        fail(f"audit chain incomplete: {result.reason} ({result.chained_rows} chained rows intact)")
    if not result.ok:
        fail(
            f"audit chain broken at row {result.first_broken_id}: {result.reason} "
            f"({result.chained_rows} chained rows intact before it)"
        )
    console.print(_summary(result), highlight=False, soft_wrap=True)
    if anchor_file is not None:
        console.print(f"anchor file {anchor_file} updated", highlight=False, soft_wrap=True)
    elif result.last_hash:
        console.print(
            f"last hash: {result.last_hash} (note it elsewhere; `--anchor` checks a later log still holds it)",
            highlight=False,
            soft_wrap=True,
        )
