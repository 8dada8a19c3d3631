"""`secureai compliance`: frameworks, what the probes can evidence, and what a scan did evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.output import ExitCode, console, fail
from app.compliance.catalog import default_catalog
from app.compliance.mapping import ProbeOutcome, RequirementStatus, assess, coverage_gaps, probe_coverage
from app.engine.probes.registry import get_probe, load_probes
from app.engine.scoring import ProbeInfo, score_records
from app.engine.sinks import read_jsonl

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
    results: Annotated[Path, typer.Argument(help="Attempt log of a scan (scan --out).", exists=True, dir_okay=False)],
    framework: FrameworkOption = None,
    json_output: JsonOption = False,
) -> None:
    """Per requirement: failed, passed, partial or not tested in this scan; coverage % per framework."""
    header, records = read_jsonl(results)
    if header is None and not records:
        fail(f"{results} holds no scan attempts", ExitCode.USAGE)
    known = {probe.id for probe in load_probes()}
    probe_ids = sorted({record.probe_id for record in records} & known)
    selected = [get_probe(probe_id) for probe_id in probe_ids]
    score = score_records(records, {p.id: ProbeInfo(p.owasp, p.severity, p.title) for p in selected})
    outcomes = [ProbeOutcome(s.probe_id, s.counts["vulnerable"], s.scored) for s in score.probes.values()]
    assessments = assess(outcomes, selected, default_catalog())
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
