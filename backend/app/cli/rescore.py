"""`secureai rescore`: judge a recorded scan again with today's detectors, without sending anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.output import ExitCode, console, err_console, fail, print_json
from app.cli.packs import PacksOption, activate_packs
from app.engine.model import AttemptRecord
from app.engine.probes.registry import get_probe
from app.engine.probes.user_packs import UserPack
from app.engine.rescore import RescoreError, RescoreStats, rescore
from app.engine.sinks import FORMAT, read_jsonl, record_to_json
from app.reports.render import render
from app.reports.source import ReportSourceError, result_from_file


def _seed(header: dict[str, Any]) -> int | None:
    seed = header.get("seed")
    return seed if isinstance(seed, int) else None


def _user_packs(header: dict[str, Any], records: list[AttemptRecord], loaded: list[UserPack]) -> list[dict[str, Any]]:
    """Check the scan's user packs against --packs; the records of the packs that will judge its attempts.

    A recorded probe that is in no catalogue is kept as it was; when the scan recorded user packs that --packs
    does not give, that is a usage error naming them, since the user surely meant to re-judge those attempts.
    """
    recorded = [pack for pack in header.get("user_packs") or [] if isinstance(pack, dict)]
    unknown: dict[str, int] = {}
    for record in records:
        try:
            get_probe(record.probe_id)
        except KeyError:
            unknown[record.probe_id] = unknown.get(record.probe_id, 0) + 1
    by_name = {pack.pack: pack for pack in loaded}
    missing = [pack for pack in recorded if pack.get("name") not in by_name]
    if unknown and missing:
        names = ", ".join(
            f"{pack.get('name')} (version {pack.get('version')}, sha256 {str(pack.get('sha256'))[:12]})"
            for pack in missing
        )
        fail(
            f"the scan ran user pack(s) {names}, whose probes are not in the catalogue: pass --packs DIR "
            f"holding them to re-judge their {sum(unknown.values())} attempt(s)",
            ExitCode.USAGE,
        )
    if unknown:
        err_console.print(
            f"{sum(unknown.values())} attempt(s) of probe(s) not in the catalogue (neither shipped nor in --packs) "
            f"are kept as recorded: {', '.join(sorted(unknown))}",
            highlight=False,
            soft_wrap=True,
        )
    for pack in recorded:
        now = by_name.get(str(pack.get("name")))
        if now is not None and now.digest != pack.get("sha256"):
            err_console.print(
                f"user pack {now.pack!r} changed since the scan (sha256 {str(pack.get('sha256'))[:12]} then, "
                f"{now.digest[:12]} now): its attempts are judged with today's version",
                highlight=False,
                soft_wrap=True,
            )
    used = {record.probe_id for record in records}
    return [pack.record() for pack in loaded if any(probe.id in used for probe in pack.probes)]


def rescore_command(
    ctx: typer.Context,
    attempt_log: Annotated[Path, typer.Argument(help="An attempt log written by `secureai scan -o` (.jsonl).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the re-judged attempt log (.jsonl).")],
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Also write the re-judged scan result (JSON, docs/scan-json.md).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print what changed as JSON.")] = False,
    packs: PacksOption = None,
) -> None:
    """Re-apply the current detectors to every recorded answer of ATTEMPT_LOG and write the result to --out in
    the same format. Nothing is sent to any target. Each verdict records the detector version that gave it;
    errors and blocked attempts keep their outcome. A scan that ran your own probe packs needs them again
    (--packs). Exit codes: 0 done, 2 usage error."""
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
    user_packs = _user_packs(header, records, activate_packs(ctx, packs))
    stats = RescoreStats()
    new_header = {
        **{key: value for key, value in header.items() if key != "type"},
        "type": "scan",
        "format": FORMAT,
        "rescored_from": str(attempt_log),
        "rescored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **({"user_packs": user_packs} if user_packs else {}),
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
        if user_packs:
            result["user_packs"] = user_packs
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
