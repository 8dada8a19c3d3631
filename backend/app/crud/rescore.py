"""Re-judging a stored platform scan: a new result version of the same scan, nothing sent to the target.

The original scan and its attempts stay as they were (audit and history need them). The new version is a scan
row of its own, `completed`, on the same target, with `options.rescored_from` naming the original, a copy of
every attempt with today's verdicts, and findings and compliance written as for any scan. The use-case flushes
and writes its audit record in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.log import record as audit_record
from app.crud.attempts import attempt_row, record_of
from app.crud.packs import pinned_packs
from app.db.enums import ScanStatus
from app.db.models import Attempt, Scan, utcnow
from app.engine.probes.user_packs import using_packs
from app.engine.rescore import RescoreError, RescoreStats, rescore
from app.jobs.scan_job import ScanOptions, ScanPlan, plan_scan, write_findings

__all__ = ["RescoreNotPossibleError", "rescore_scan"]

#: Attempts read from the database at a time: memory stays flat however large the scan.
BATCH = 500


class RescoreNotPossibleError(ValueError):
    """The scan cannot be re-judged (still running, no attempts, not a platform scan); says why."""


def rescore_scan(
    session: Session,
    scan: Scan,
    *,
    actor: int | None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> tuple[Scan, RescoreStats]:
    """A new, re-judged version of `scan` (flushed, audited, not committed)."""
    if scan.status not in (ScanStatus.COMPLETED, ScanStatus.CANCELLED):
        raise RescoreNotPossibleError(f"scan {scan.id} is {scan.status.value}: only an ended scan can be re-judged")
    if scan.target_id is None or not scan.options:
        raise RescoreNotPossibleError(f"scan {scan.id} is not a platform scan (it has no recorded attempts)")
    options = ScanOptions.from_json(scan.options)
    try:
        # the user pack versions the scan ran, exactly: their probes judge its attempts again
        packs = [stored.pack for stored in pinned_packs(session, options.packs)]
        plan = plan_scan(options, packs)
    except (ValueError, KeyError) as error:
        raise RescoreNotPossibleError(f"scan {scan.id}'s probe selection no longer loads: {error}") from None
    with using_packs(packs) if packs else nullcontext():
        return _rescore(session, scan, options, plan, actor, ip_address, user_agent)


def _rescore(
    session: Session,
    scan: Scan,
    options: ScanOptions,
    plan: ScanPlan,
    actor: int | None,
    ip_address: str | None,
    user_agent: str | None,
) -> tuple[Scan, RescoreStats]:
    now = utcnow()
    version = Scan(
        name=f"{scan.name} (re-judged)"[:200],
        description=scan.description,
        model_name=scan.model_name,
        model_type=scan.model_type,
        scanner_type=scan.scanner_type,
        status=ScanStatus.COMPLETED,
        progress=100.0,
        created_by=actor if actor is not None else scan.created_by,
        target_id=scan.target_id,
        options={**(scan.options or {}), "rescored_from": scan.id},
        attempts_planned=scan.attempts_planned,
        started_at=now,
        completed_at=now,
        duration=0,
    )
    session.add(version)
    session.flush()
    stats = RescoreStats()
    rows = session.scalars(
        select(Attempt).where(Attempt.scan_id == scan.id).order_by(Attempt.id).execution_options(yield_per=BATCH)
    )
    try:
        for new in rescore((record_of(row) for row in rows), options.seed, stats):
            session.add(attempt_row(version.id, new))
            if stats.attempts % BATCH == 0:
                session.flush()
    except RescoreError as error:
        raise RescoreNotPossibleError(str(error)) from None
    if not stats.attempts:
        raise RescoreNotPossibleError(f"scan {scan.id} has no recorded attempts to re-judge")
    session.flush()
    write_findings(session, version, plan.probes, options.max_error_share)
    summary: dict[str, Any] = stats.as_dict()
    version.results = {**(version.results or {}), "rescored_from": scan.id, "rescore": summary}
    audit_record(
        session,
        "scan_rescore",
        user_id=actor,
        resource_type="scan",
        resource_id=version.id,
        details={"rescored_from": scan.id, "attempts": stats.attempts, "changed": summary["changed"]},
        ip_address=ip_address,
        user_agent=user_agent,
    )
    session.flush()
    return version, stats
