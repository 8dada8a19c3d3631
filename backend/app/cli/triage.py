"""`secureai triage export`: a platform target's triage as a file that `secureai scan|report --triage` read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.output import ExitCode, err_console, fail
from app.reports.triage import TriageEntry, TriageFileError, load_triage_file

app = typer.Typer(help="Carry triage decisions (false positives, accepted risks) to CI.", no_args_is_help=True)


def load_triage_option(path: Path | None) -> list[TriageEntry] | None:
    """The entries of `--triage FILE` (None without it); a bad file is a usage error in one line."""
    if path is None:
        return None
    try:
        return load_triage_file(path)
    except TriageFileError as error:
        fail(f"--triage: {error}", ExitCode.USAGE)


@app.command("export")
def export(
    target: Annotated[str, typer.Option("--target", "-t", help="The platform target, by name or id.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")] = None,
) -> None:
    """Write TARGET's triage as a secureai.triage/v1 JSON file: one entry per triaged weakness (fingerprint,
    probe, state, reason, an accepted risk's expiry). Give it to `secureai scan --triage FILE --fail-on high` so
    CI fails only on findings nobody set aside (docs/reports.md)."""
    # the database side only here: `secureai scan --triage FILE` reads a file and loads no SQLAlchemy
    from sqlalchemy import select

    from app.cli.database import database_session
    from app.crud.triage import target_triage_file
    from app.db.models import Target
    from app.reports.triage import dump_triage_file

    with database_session(("targets", "finding_triage")) as session:
        query = select(Target).where(Target.id == int(target)) if target.isdigit() else None
        found = session.scalar(query) if query is not None else None
        found = found or session.scalar(select(Target).where(Target.name == target))
        if found is None:
            fail(f"no platform target named or numbered {target!r} (secureai target list shows them)", ExitCode.USAGE)
        document = target_triage_file(session, found)
    text = dump_triage_file(document)
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {out} ({len(document['findings'])} triage decisions)")
