"""`secureai import`: bring other tools' results into SecureAI's result model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from app.cli.output import ExitCode, console, fail
from app.engine.imports.garak import (
    GarakImportError,
    GarakReportReader,
    eval_mismatches,
    owasp_for_probe,
    read_lines,
    summarise,
)
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
    garak computes it), checked against garak's own eval lines and mapped to OWASP LLM 2025 categories."""
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
    rows = [
        {
            "probe": probe,
            "detector": detector,
            "owasp": owasp_for_probe(probe.removeprefix("garak.")),
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
                    "garak_version": run.garak_version,
                    "run_id": run.run_id,
                    "target": f"{run.target_type}:{run.target_name}",
                    "complete": run.complete,
                    "results_file": str(out),
                    "probes_x_detectors": rows,
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
        table = Table("probe", "detector", "OWASP", "fails/total", "ASR", "garak ASR")
        for row in rows:
            asr = "n/a" if row["asr"] is None else f"{row['asr']:.1%}"
            theirs = "n/a" if row["garak_asr"] is None else f"{row['garak_asr']:.1%}"
            table.add_row(
                str(row["probe"]),
                str(row["detector"]),
                str(row["owasp"] or "-"),
                f"{row['fails']}/{row['total']}",
                asr,
                theirs,
            )
        console.print(table)
        console.print(f"attempt log: {out}")
        for problem in mismatches:
            console.print(f"[red]differs from garak's own numbers:[/] {problem}")
    if mismatches:
        raise typer.Exit(int(ExitCode.FAILED))
