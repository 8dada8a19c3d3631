"""`secureai report`: render a scan as HTML, PDF, JSON, SARIF, JUnit XML, CSV or Markdown."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from app.cli.database import database_session
from app.cli.output import ExitCode, err_console, fail
from app.cli.packs import PacksOption, activate_packs
from app.reports.render import FORMATS, render
from app.reports.source import ReportSourceError, result_from_file, result_from_scan

Format = Literal["json", "sarif", "junit", "csv", "md", "html", "pdf"]


def load(source: str) -> dict[str, Any]:
    """The scan result for SOURCE: a scan id in the configured database, or a .jsonl / .json file."""
    if source.isdigit():
        with database_session(("scans", "attempts")) as session:
            return result_from_scan(session, int(source))
    return result_from_file(Path(source))


def report(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="A scan id (platform database), an attempt log (.jsonl) or a scan result (.json).")
    ],
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")] = None,
    redact: Annotated[
        str | None,
        typer.Option(help="`pii`: also mask personal data in evidence. Credentials are always masked."),
    ] = None,
    packs: PacksOption = None,
) -> None:
    """Render one scan for people (HTML, PDF), CI (SARIF, JUnit, Markdown), spreadsheets (CSV) or tools (JSON).

    An attempt log of a scan that ran your own probe packs needs them again (--packs) for their probes' titles,
    categories, severities and remediation."""
    if redact not in (None, "pii"):
        fail(f"--redact takes `pii`, not {redact!r}", ExitCode.USAGE)
    activate_packs(ctx, packs)
    try:
        document = load(source)
        body = render(document, output_format, pii=redact == "pii")
    except (ReportSourceError, ValueError) as error:
        fail(str(error), ExitCode.USAGE)
    if out is None:
        if output_format == "pdf" and sys.stdout.isatty():
            fail("a PDF is binary: give --out FILE (or redirect stdout)", ExitCode.USAGE)
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    err_console.print(f"wrote {out} ({output_format}, {len(body):,} bytes)")


__all__ = ["FORMATS", "report"]
