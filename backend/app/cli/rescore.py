"""`secureai rescore`: judge a recorded scan again with today's detectors, without sending anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.output import ExitCode, console, err_console, fail, print_json
from app.engine.rescore import RescoreError, RescoreStats, rescore
from app.engine.sinks import FORMAT, read_jsonl, record_to_json
from app.reports.render import render
from app.reports.source import ReportSourceError, result_from_file


def _seed(header: dict[str, Any]) -> int | None:
    seed = header.get("seed")
    return seed if isinstance(seed, int) else None


def rescore_command(
    attempt_log: Annotated[Path, typer.Argument(help="An attempt log written by `secureai scan -o` (.jsonl).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the re-judged attempt log (.jsonl).")],
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Also write the re-judged scan result (JSON, docs/scan-json.md).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print what changed as JSON.")] = False,
) -> None:
    """Re-apply the current detectors to every recorded answer of ATTEMPT_LOG and write the result to --out in
    the same format. Nothing is sent to any target. Each verdict records the detector version that gave it;
    errors and blocked attempts keep their outcome. Exit codes: 0 done, 2 usage error."""
    if not attempt_log.is_file():
        fail(f"{attempt_log} does not exist", ExitCode.USAGE)
    if out.resolve() == attempt_log.resolve():
        fail("--out must differ from the attempt log: the original is kept as it was", ExitCode.USAGE)
    if out.suffix != ".jsonl":
        fail(f"--out must be a .jsonl file, not {out.name}", ExitCode.USAGE)
    try:
        header, records = read_jsonl(attempt_log)
    except (OSError, UnicodeDecodeError, KeyError, ValueError, TypeError) as error:
        fail(f"{attempt_log} is not a SecureAI attempt log: {error}", ExitCode.USAGE)
    if not records:
        fail(f"{attempt_log} holds no attempts (it is not a SecureAI attempt log, or the scan sent nothing)")
    header = header or {}
    stats = RescoreStats()
    new_header = {
        **{key: value for key, value in header.items() if key != "type"},
        "type": "scan",
        "format": FORMAT,
        "rescored_from": str(attempt_log),
        "rescored_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(new_header, ensure_ascii=False) + "\n")
            detector_versions: set[str] = set()
            for record in rescore(records, _seed(header), stats):
                detector_versions.update(verdict.version for verdict in record.verdicts if verdict.version)
                handle.write(json.dumps(record_to_json(record), ensure_ascii=False) + "\n")
    except RescoreError as error:
        partial.unlink(missing_ok=True)
        fail(str(error))
    partial.replace(out)
    summary = {**stats.as_dict(), "out": str(out), "detector_versions": sorted(detector_versions)}
    if report_file is not None:
        try:
            result = result_from_file(out)
        except ReportSourceError as error:
            fail(str(error))
        report_file.parent.mkdir(parents=True, exist_ok=True)
        report_file.write_bytes(render(result, "json"))
        summary["report"] = str(report_file)
    if json_output:
        print_json(summary)
        return
    console.print(
        f"re-judged {stats.rejudged} of {stats.attempts} attempts without sending anything; "
        f"{sum(stats.changed.values())} changed outcome"
    )
    for (old, new), count in sorted(stats.changed.items()):
        console.print(f"  {old} -> {new}: {count}")
    for why, count in stats.kept.items():
        console.print(f"  kept as recorded ({why}): {count}")
    err_console.print(f"wrote {out}" + (f" and {report_file}" if report_file else ""))
