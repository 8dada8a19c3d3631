"""Where a report's scan result comes from: a platform scan in the database, a CLI attempt log, or a result file.

Whatever the source, the outcome is one `secureai.scan-result/v1` document (docs/scan-json.md), computed by the
engine's own scoring, so every format renders the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.model import AttemptRecord
from app.engine.probes.registry import load_probes
from app.engine.report_json import SCHEMA, scan_result_json
from app.engine.scoring import DEFAULT_ERROR_THRESHOLD, ProbeInfo, probe_infos, score_records
from app.engine.sinks import read_jsonl
from app.reports.triage import apply_triage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Fields of a platform scan's `results` that describe the run, copied into its result document.
RUN_FIELDS = ("roles", "judge_calibration", "adaptive", "budget_exhausted")


class ReportSourceError(ValueError):
    """The source is not a scan, an attempt log or a scan result; the message says which and why."""


def _probe_info() -> dict[str, ProbeInfo]:
    """What scoring needs of every catalogued probe, its kind included (over-refusal is scored apart)."""
    return probe_infos(load_probes())


def result_from_records(
    records: list[AttemptRecord], meta: dict[str, Any], error_threshold: float = DEFAULT_ERROR_THRESHOLD
) -> dict[str, Any]:
    """Score `records` and wrap them in the result document with `meta` as its top-level context."""
    return scan_result_json(score_records(records, _probe_info(), error_threshold), meta)


def result_from_scan(session: Session, scan_id: int, *, triage: bool = True) -> dict[str, Any]:
    """The result document of a platform scan, from its checkpointed attempts: each finding with the platform's
    fingerprint and, unless `triage` is False, the target's triage applied (app/reports/triage.py)."""
    # the database side is imported here: `secureai scan` reads result files and must not load SQLAlchemy
    from sqlalchemy import select

    from app.crud.attempts import record_of
    from app.db.models import Attempt, Scan, Target

    scan = session.get(Scan, scan_id)
    if scan is None:
        raise ReportSourceError(f"no scan {scan_id} in the database")
    rows = session.scalars(select(Attempt).where(Attempt.scan_id == scan_id).order_by(Attempt.id))
    records = [record_of(row) for row in rows]
    if not records:
        raise ReportSourceError(f"scan {scan_id} has no attempts (legacy scans have none; status {scan.status.value})")
    target = session.get(Target, scan.target_id) if scan.target_id else None
    options = scan.options or {}
    meta = {
        "scan_id": scan.id,
        "scan_name": scan.name,
        "status": scan.status.value,
        "target": target.name if target else scan.model_name,
        "selection": options.get("probes"),
        "strategies": options.get("strategies"),
        "repeat": options.get("repeat"),
        "seed": options.get("seed"),
        "started_at": scan.started_at.isoformat() if scan.started_at else None,
        "completed_at": scan.completed_at.isoformat() if scan.completed_at else None,
        "attempts_planned": scan.attempts_planned,
    }
    # what the job recorded of the run: the attacker and judge models and their usage, the judge's calibration,
    # the adaptive settings and a budget that ran out (the same fields as a `secureai scan` result)
    recorded = scan.results or {}
    meta.update({name: recorded[name] for name in RUN_FIELDS if name in recorded})
    document = result_from_records(records, meta, float(options.get("max_error_share", DEFAULT_ERROR_THRESHOLD)))
    if scan.target_id is None:
        return document
    from app.crud.attempts import fingerprint
    from app.crud.triage import target_triage

    document["findings"] = [
        {**finding, "fingerprint": fingerprint(scan.target_id, str(finding["probe_id"]))}
        for finding in document.get("findings") or []
    ]
    if not triage:
        return document
    return apply_triage(document, target_triage(session, scan.target_id), f"platform target {meta['target']}")


def result_from_file(path: Path) -> dict[str, Any]:
    """A `.jsonl` attempt log (scored now) or a `.json` scan result (checked and returned)."""
    if not path.is_file():
        raise ReportSourceError(f"{path} does not exist")
    if path.suffix == ".jsonl":
        header, records = read_jsonl(path)
        if not records:
            raise ReportSourceError(f"{path} holds no attempts")
        header = header or {}
        meta = {key: header.get(key) for key in ("target", "strategies", "repeat", "seed", "plan")}
        meta.update(selection=header.get("probes"), results_file=str(path), attempts_planned=header.get("attempts"))
        # an imported garak run says whether it completed (secureai import garak writes it at the end)
        meta.update({key: header[key] for key in ("source", "complete", "status") if key in header})
        return result_from_records(records, meta)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ReportSourceError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ReportSourceError(f"{path} is not a {SCHEMA} document (secureai scan --format json writes one)")
    return document
