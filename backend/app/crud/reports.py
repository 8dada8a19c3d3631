"""Loading a platform scan for a report: its checkpointed attempts scored into the result document that every
report format renders (the same `secureai.scan-result/v1` as a CLI scan's), with the platform's fingerprints and
the target's triage. The API's report export and `secureai report SCAN_ID` call it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crud.attempts import fingerprint, record_of
from app.crud.triage import target_triage
from app.db.models import Attempt, Scan, Target
from app.engine.scoring import DEFAULT_ERROR_THRESHOLD
from app.reports.source import ReportSourceError, result_from_records
from app.reports.triage import apply_triage

#: Fields of a platform scan's `results` that describe the run, copied into its result document.
RUN_FIELDS = ("roles", "judge_calibration", "adaptive", "budget_exhausted")


def result_from_scan(session: Session, scan_id: int, *, triage: bool = True) -> dict[str, Any]:
    """The result document of a platform scan, from its checkpointed attempts: each finding with the platform's
    fingerprint and, unless `triage` is False, the target's triage applied (app/reports/triage.py)."""
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
    document["findings"] = [
        {**finding, "fingerprint": fingerprint(scan.target_id, str(finding["probe_id"]))}
        for finding in document.get("findings") or []
    ]
    if not triage:
        return document
    return apply_triage(document, target_triage(session, scan.target_id), f"platform target {meta['target']}")
