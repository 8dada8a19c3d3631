"""`secureai import`: bring other tools' results into SecureAI's result model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from app.cli.output import ExitCode, console, err_console, fail
from app.engine.imports.garak import (
    GarakImportError,
    GarakReportReader,
    eval_mismatches,
    read_lines,
    summarise,
)
from app.engine.imports.garak_probes import ENGINE, garak_mapping
from app.engine.model import AttemptRecord
from app.engine.sinks import JsonlSink

app = typer.Typer(help="Import results of other tools.", no_args_is_help=True)


@app.command("garak")
def garak(
    report: Annotated[Path, typer.Argument(help="garak's report.jsonl", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Attempt log to write (JSONL, as `scan --out`).")] = Path(
        "garak-results.jsonl"
    ),
    output_format: Annotated[Literal["table", "json"], typer.Option("--format", help="Summary on stdout.")] = "table",
) -> None:
    """Read a garak report: attempts with outcomes, and per probe x detector ASR (fails / total evaluated, as
    garak computes it), checked against garak's own eval lines. Each probe gets an OWASP LLM 2025 category and
    a severity from the garak probe table (docs/imports.md), so `secureai report --fail-on` gates on it; a probe
    the table does not know is listed as unmapped (severity info, no category) with a warning on stderr."""
    reader = GarakReportReader(read_lines(report))
    sink = JsonlSink(out, resume=False)

    def written() -> Iterator[AttemptRecord]:
        for record in reader.records():
            sink.write(record)
            yield record

    try:
        summary = summarise(written())
        # after the attempts, once the whole report is read: whether garak finished its run (`secureai report`
        # of this log opens with the partial-scan banner when it did not)
        run = reader.run
        sink.write_header(
            {
                "source": "garak",
                "engine": ENGINE,
                "engine_version": run.garak_version,
                "complete": run.complete,
                "target": f"garak:{run.target_type}:{run.target_name}",
                "probes": run.probe_spec,
                "garak_run_id": run.run_id,
                "unscored_at_stop": run.attempts_unscored,
            }
        )
    except GarakImportError as error:
        out.unlink(missing_ok=True)
        fail(f"{report}: {error}", ExitCode.USAGE)
    finally:
        sink.close()
    mismatches = eval_mismatches(summary, reader.evals)
    garak_asr = {evaluation.key: evaluation.asr for evaluation in reader.evals}
    mappings = {probe: garak_mapping(probe) for probe, _ in summary}
    unmapped = sorted(probe for probe, mapping in mappings.items() if mapping is None)
    rows = [
        {
            "probe": probe,
            "detector": detector,
            "owasp": mapping.owasp if (mapping := mappings[probe]) else None,
            "severity": mapping.severity if mapping else None,
            "mapped": mapping is not None,
            "fails": tally["fails"],
            "total": tally["total"],
            "nones": tally["nones"],
            "asr": tally["asr"],
            "garak_asr": garak_asr.get((probe, detector)),
        }
        for (probe, detector), tally in sorted(summary.items())
    ]
    run = reader.run
    if output_format == "json":
        typer.echo(
            json.dumps(
                {
                    "source": "garak",
                    "engine": ENGINE,
                    "garak_version": run.garak_version,
                    "run_id": run.run_id,
                    "target": f"{run.target_type}:{run.target_name}",
                    "complete": run.complete,
                    "results_file": str(out),
                    "probes_x_detectors": rows,
                    "unmapped_probes": unmapped,
                    "mismatches": mismatches,
                },
                indent=2,
                default=str,
            )
        )
    else:
        console.print(
            f"garak {run.garak_version} run {run.run_id} against {run.target_type} {run.target_name}"
            f"{'' if run.complete else ' (interrupted run)'}"
        )
        table = Table("probe", "detector", "OWASP", "severity", "fails/total", "ASR", "garak ASR")
        for row in rows:
            asr = "n/a" if row["asr"] is None else f"{row['asr']:.1%}"
            theirs = "n/a" if row["garak_asr"] is None else f"{row['garak_asr']:.1%}"
            table.add_row(
                str(row["probe"]),
                str(row["detector"]),
                str(row["owasp"] or "unmapped"),
                str(row["severity"] or "-"),
                f"{row['fails']}/{row['total']}",
                asr,
                theirs,
            )
        console.print(table)
        console.print(f"attempt log: {out}")
        for problem in mismatches:
            console.print(f"[red]differs from garak's own numbers:[/] {problem}")
    if unmapped:
        err_console.print(
            f"warning: {len(unmapped)} garak probe(s) have no OWASP category or severity in SecureAI's table "
            f"(docs/imports.md); they are reported as unmapped, severity info: {', '.join(unmapped)}",
            highlight=False,
            soft_wrap=True,
        )
    if mismatches:
        raise typer.Exit(int(ExitCode.FAILED))
