"""`secureai compliance`: frameworks, what the probes can evidence, and what a scan did evidence."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Column, Table

from app.cli.database import database_session
from app.cli.output import ExitCode, console, fail
from app.cli.report import load as load_result
from app.compliance.catalog import default_catalog
from app.compliance.mapping import MeasuredProbe, RequirementStatus, assess_measured, coverage_gaps, probe_coverage
from app.crud.compliance import find_target, target_trend
from app.engine.probes.registry import load_probes
from app.reports.source import ReportSourceError

app = typer.Typer(help="Compliance frameworks, coverage gaps and per-scan assessment.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
FrameworkOption = Annotated[str | None, typer.Option("--framework", "-f", help="Only this framework id.")]


def _framework_ids(only: str | None) -> list[str]:
    ids = list(default_catalog().frameworks)
    if only is None:
        return ids
    if only not in ids:
        fail(f"unknown framework {only!r}; known: {', '.join(ids)}", ExitCode.USAGE)
    return [only]


@app.command("frameworks")
def frameworks(json_output: JsonOption = False) -> None:
    """List the frameworks with their version, source and size."""
    catalog = default_catalog()
    rows = [
        {"id": f.id, "name": f.name, "version": f.version, "requirements": len(f.requirements), "source": f.source.url}
        for f in catalog.frameworks.values()
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "version", "requirements", "source")
    for row in rows:
        table.add_row(
            str(row["id"]), str(row["name"]), str(row["version"]), str(row["requirements"]), str(row["source"])
        )
    console.print(table)


@app.command("coverage")
def coverage(framework: FrameworkOption = None, json_output: JsonOption = False) -> None:
    """Which requirements the probe packs can evidence, and which no probe can (the gaps)."""
    catalog, probes = default_catalog(), load_probes()
    covered, gaps = probe_coverage(probes, catalog), coverage_gaps(probes, catalog)
    report = []
    for framework_id in _framework_ids(framework):
        total = len(catalog.frameworks[framework_id].requirements)
        report.append(
            {
                "framework": framework_id,
                "requirements": total,
                "evidenced": total - len(gaps[framework_id]),
                "gaps": gaps[framework_id],
                "probes_per_requirement": {req: len(ids) for req, ids in covered[framework_id].items()},
            }
        )
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    for framework_id in _framework_ids(framework):
        total = len(catalog.frameworks[framework_id].requirements)
        evidenced = total - len(gaps[framework_id])
        console.print(f"[bold]{framework_id}[/]: {evidenced}/{total} requirements can be evidenced by probes")
        if gaps[framework_id]:
            console.print(f"  no probe can evidence: {', '.join(gaps[framework_id])}", highlight=False)


@app.command("assess")
def assess_scan(
    source: Annotated[
        str, typer.Argument(help="A scan id (platform database), an attempt log (.jsonl) or a scan result (.json).")
    ],
    framework: FrameworkOption = None,
    json_output: JsonOption = False,
) -> None:
    """Per requirement: failed, passed, partial or not tested in this scan; coverage % per framework."""
    try:
        document = load_result(source)
    except ReportSourceError as error:
        fail(str(error), ExitCode.USAGE)
    measured = [
        MeasuredProbe(
            str(entry["probe_id"]),
            str(entry.get("owasp") or ""),
            int((entry.get("counts") or {}).get("vulnerable", 0)),
            sum(int((entry.get("counts") or {}).get(key, 0)) for key in ("vulnerable", "safe", "refused")),
        )
        for entry in document.get("probes") or []
    ]
    assessments = assess_measured(measured, default_catalog())
    chosen = _framework_ids(framework)
    if json_output:
        typer.echo(
            json.dumps(
                [
                    {
                        "framework": fid,
                        "coverage_pct": assessments[fid].coverage_pct,
                        "counts": {s.value: assessments[fid].count(s) for s in RequirementStatus},
                        "requirements": [
                            {
                                "id": r.requirement_id,
                                "title": r.title,
                                "status": r.status.value,
                                "failed_probes": r.failed_probes,
                                "passed_probes": r.passed_probes,
                                "unscored_probes": r.unscored_probes,
                            }
                            for r in assessments[fid].results
                        ],
                    }
                    for fid in chosen
                ],
                indent=2,
            )
        )
        return
    colour = {"failed": "red", "passed": "green", "partial": "yellow", "not_tested": "dim"}
    for fid in chosen:
        item = assessments[fid]
        counts = ", ".join(f"{s.value} {item.count(s)}" for s in RequirementStatus)
        table = Table(
            "requirement",
            "title",
            "status",
            "probes",
            title=f"{item.framework.name}: coverage {item.coverage_pct}% ({counts})",
        )
        for r in item.results:
            probes_text = ", ".join(r.failed_probes or r.passed_probes)[:80]
            table.add_row(r.requirement_id, r.title, f"[{colour[r.status.value]}]{r.status.value}[/]", probes_text)
        console.print(table)


@app.command("trend")
def trend(
    target: Annotated[str, typer.Argument(help="Target id or name (platform database).")],
    framework: FrameworkOption = None,
    json_output: JsonOption = False,
) -> None:
    """Coverage and requirement statuses per framework across the target's completed scans, oldest first."""
    with database_session(("targets", "compliance_mappings")) as session:
        found = find_target(session, target)
        if found is None:
            fail(f"no target {target!r} in the database (`GET /api/v1/targets` lists them)", ExitCode.USAGE)
        points = target_trend(session, found.id)
    chosen = [fid for fid in points if framework is None or fid == framework]
    if framework is not None and framework not in default_catalog().frameworks:
        _framework_ids(framework)  # fails with the list of known ids
    if json_output:
        typer.echo(
            json.dumps(
                {
                    fid: [
                        {
                            "scan_id": p.scan_id,
                            "completed_at": p.completed_at.isoformat() if p.completed_at else None,
                            "coverage_pct": p.coverage_pct,
                            "counts": p.counts,
                        }
                        for p in points[fid]
                    ]
                    for fid in chosen
                },
                indent=2,
            )
        )
        return
    if not chosen:
        console.print(f"target {found.name!r} has no completed scan with a compliance assessment yet")
        return
    for fid in chosen:
        headers = [_TREND_HEADERS[status] for status in _TREND_STATUSES]
        table = Table("scan", Column("completed", no_wrap=True), "coverage", *headers, title=f"{fid}: {found.name}")
        previous: float | None = None
        for p in points[fid]:
            change = "" if previous is None else f" ({p.coverage_pct - previous:+.1f})"
            completed = p.completed_at.strftime("%Y-%m-%d %H:%M") if p.completed_at else "—"
            counts = [str(p.counts.get(status, 0)) for status in _TREND_STATUSES]
            table.add_row(str(p.scan_id), completed, f"{p.coverage_pct}%{change}", *counts)
            previous = p.coverage_pct
        console.print(table)


#: the stored (legacy-vocabulary) statuses, in the order a reader scans them
_TREND_STATUSES = ("non_compliant", "partial", "compliant", "not_assessed")
#: column headings in the assessment's words (`assess`), short enough for an 80-column terminal
_TREND_HEADERS = {"non_compliant": "failed", "partial": "partial", "compliant": "passed", "not_assessed": "gaps"}
