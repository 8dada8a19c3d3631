"""`secureai report`: render a scan as HTML, PDF, JSON, SARIF, JUnit XML, CSV or Markdown."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from app.cli.database import database_session
from app.cli.output import ExitCode, err_console, fail
from app.cli.packs import PacksOption, activate_packs
from app.cli.triage import load_triage_option
from app.reports.partial import partial_of
from app.reports.render import FORMATS, render
from app.reports.source import ReportSourceError, result_from_file
from app.reports.triage import apply_triage, blocking_findings

Format = Literal["json", "sarif", "junit", "csv", "md", "html", "pdf"]
Severity = Literal["critical", "high", "medium", "low", "info"]


def load(source: str, *, platform_triage: bool = True) -> dict[str, Any]:
    """The scan result for SOURCE: a scan id in the configured database (with its target's triage unless
    `platform_triage` is False), or a .jsonl / .json file."""
    if source.isdigit():
        from app.crud.reports import result_from_scan

        with database_session(("scans", "attempts")) as session:
            return result_from_scan(session, int(source), triage=platform_triage)
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
    triage_path: Annotated[
        Path | None,
        typer.Option(
            "--triage",
            help="A secureai.triage/v1 file (JSON or YAML) to apply; for a scan id it replaces the platform's "
            "triage, which is applied otherwise.",
        ),
    ] = None,
    all_evidence: Annotated[
        bool,
        typer.Option(
            "--all-evidence",
            help="PDF: every example of every finding (default: one example of each of the 25 most severe).",
        ),
    ] = False,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            help="Exit 1 if a finding at least this severe is open (not a false positive or an unexpired "
            "accepted risk); exit 4 if none is but the scan is partial or inconclusive."
        ),
    ] = None,
) -> None:
    """Render one scan for people (HTML, PDF), CI (SARIF, JUnit, Markdown), spreadsheets (CSV) or tools (JSON).

    Triage (false positives, accepted risks) reaches every format: from the platform for a scan id, from
    --triage FILE otherwise. An attempt log of a scan that ran your own probe packs needs them again (--packs)
    for their probes' titles, categories, severities and remediation."""
    if redact not in (None, "pii"):
        fail(f"--redact takes `pii`, not {redact!r}", ExitCode.USAGE)
    activate_packs(ctx, packs)
    entries = load_triage_option(triage_path)
    try:
        document = load(source, platform_triage=entries is None)
        if entries is not None:
            document = apply_triage(document, entries, f"file {triage_path}")
        body = render(document, output_format, pii=redact == "pii", all_evidence=all_evidence)
    except (ReportSourceError, ValueError) as error:
        fail(str(error), ExitCode.USAGE)
    if out is None:
        if output_format == "pdf" and sys.stdout.isatty():
            fail("a PDF is binary: give --out FILE (or redirect stdout)", ExitCode.USAGE)
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
        err_console.print(f"wrote {out} ({output_format}, {len(body):,} bytes)")
    if fail_on is not None:
        _gate(document, fail_on)


def _gate(document: dict[str, Any], fail_on: str) -> None:
    """--fail-on: exit 1 for an open finding at or above it, else 4 when the scan cannot vouch for a pass."""
    blocking = blocking_findings(document, fail_on)
    if unmapped := document.get("unmapped_probes"):
        err_console.print(
            f"warning: {len(unmapped)} imported probe(s) unmapped, scored info whatever they found: "
            + ", ".join(map(str, unmapped)),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if blocking:
        err_console.print(f"{len(blocking)} open finding(s) at or above {fail_on}: fails --fail-on {fail_on}")
        raise typer.Exit(int(ExitCode.FAILED))
    partial = partial_of(document)
    if partial is not None:
        err_console.print(f"--fail-on {fail_on} cannot pass: {partial.banner}")
        raise typer.Exit(int(ExitCode.INCONCLUSIVE))


__all__ = ["FORMATS", "report"]
