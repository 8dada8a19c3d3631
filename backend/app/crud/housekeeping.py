"""Housekeeping: deleting scans and targets, and pruning scans past the retention period.

The use-cases behind `DELETE /api/v1/scans/{id}`, `DELETE /api/v1/targets/{id}`, the dashboard's delete pages
and `secureai db prune`. A scan goes with everything that hangs off it (attempts, adaptive attack steps,
findings, compliance mappings), children first so the foreign keys hold on every backend; a target goes with
its scans and its triage decisions. The audit log is never touched: each deletion adds a record to the chain in
the caller's transaction (the caller commits), naming what went.

A scan still pending or running is refused (cancel it first), and so is a target that a pending or running scan
uses (as its target, attacker or judge) or that a setting names as the default attacker or judge: deleting it
would break a scan mid-flight or every later scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.audit.log import record as audit_record
from app.config import get_settings
from app.db.enums import ScanStatus
from app.db.models import (
    AttackStep,
    Attempt,
    ComplianceMapping,
    FindingTriage,
    Scan,
    Target,
    Vulnerability,
    utcnow,
)

__all__ = [
    "ACTIVE",
    "Actor",
    "DeleteRefusedError",
    "Removed",
    "delete_scan",
    "delete_target",
    "prune_candidates",
    "prune_scans",
    "removal_of_scans",
    "target_scan_ids",
]

#: Scan states that a deletion would break.
ACTIVE = (ScanStatus.PENDING, ScanStatus.RUNNING)


class DeleteRefusedError(ValueError):
    """The row cannot be deleted now; `status` is the HTTP status that says why (409)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who deletes, for the audit record (user None: the retention task)."""

    user_id: int | None
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Removed:
    """How many rows a deletion takes (or took) with it."""

    scans: int
    attempts: int
    findings: int

    def as_dict(self) -> dict[str, int]:
        return {"scans": self.scans, "attempts": self.attempts, "findings": self.findings}


def removal_of_scans(session: Session, scan_ids: list[int]) -> Removed:
    """What deleting these scans would remove (shown on the confirmation page before anything is deleted)."""
    if not scan_ids:
        return Removed(0, 0, 0)
    attempts = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.scan_id.in_(scan_ids)))
    findings = session.scalar(
        select(func.count()).select_from(Vulnerability).where(Vulnerability.scan_id.in_(scan_ids))
    )
    return Removed(len(scan_ids), int(attempts or 0), int(findings or 0))


def _delete_scan_rows(session: Session, scan_ids: list[int]) -> None:
    """Delete the scans and their children, children first (the foreign keys have no ON DELETE)."""
    if not scan_ids:
        return
    for child in (Attempt, AttackStep, Vulnerability, ComplianceMapping):
        session.execute(
            delete(child).where(child.scan_id.in_(scan_ids)), execution_options={"synchronize_session": False}
        )
    session.execute(delete(Scan).where(Scan.id.in_(scan_ids)), execution_options={"synchronize_session": False})
    gone = set(scan_ids)
    for held in list(session.identity_map.values()):  # rows the session still holds are gone from the database
        if isinstance(held, Scan | Vulnerability | Attempt | AttackStep | ComplianceMapping) and (
            (held.id if isinstance(held, Scan) else held.scan_id) in gone
        ):
            session.expunge(held)


def _audit(session: Session, actor: Actor, action: str, kind: str, resource_id: int, details: dict[str, Any]) -> None:
    audit_record(
        session,
        action,
        user_id=actor.user_id,
        resource_type=kind,
        resource_id=resource_id,
        details=details,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )


def _refuse_active(scan: Scan) -> None:
    if scan.status in ACTIVE:
        raise DeleteRefusedError(f"scan {scan.id} is {scan.status.value}; cancel it and wait for it to end first")


def delete_scan(session: Session, scan: Scan, actor: Actor, *, reason: str = "request") -> Removed:
    """Delete one ended scan with its attempts, steps, findings and compliance mappings; audited."""
    _refuse_active(scan)
    removed = removal_of_scans(session, [scan.id])
    details: dict[str, Any] = {
        "name": scan.name,
        "target_id": scan.target_id,
        "status": scan.status.value,
        "reason": reason,
        **removed.as_dict(),
    }
    scan_id = scan.id
    _delete_scan_rows(session, [scan_id])
    _audit(session, actor, "scan_delete", "scan", scan_id, details)
    return removed


def _uses_target(options: dict[str, Any] | None, target_id: int) -> bool:
    options = options or {}
    return target_id in (options.get("attacker_target_id"), options.get("judge_target_id"))


def _refuse_busy_target(session: Session, target: Target) -> None:
    settings = get_settings()
    for role, name in (("attacker", settings.default_attacker_target), ("judge", settings.default_judge_target)):
        if name == target.name:
            variable = "SECUREAI_DEFAULT_ATTACKER_TARGET" if role == "attacker" else "SECUREAI_DEFAULT_JUDGE_TARGET"
            raise DeleteRefusedError(
                f"target {target.name!r} is the default {role} model ({variable}); change that first"
            )
    for scan in session.scalars(select(Scan).where(Scan.status.in_(ACTIVE))):
        if scan.target_id == target.id or _uses_target(scan.options, target.id):
            raise DeleteRefusedError(
                f"scan {scan.id} ({scan.status.value}) uses target {target.name!r}; cancel it and wait for it to "
                "end first"
            )


def target_scan_ids(session: Session, target_id: int) -> list[int]:
    """Ids of the target's scans."""
    return list(session.scalars(select(Scan.id).where(Scan.target_id == target_id).order_by(Scan.id)))


def delete_target(session: Session, target: Target, actor: Actor) -> Removed:
    """Delete a target with all its scans (and their children) and its triage decisions; audited.

    Refused while a pending or running scan uses it (as target, attacker or judge) or while a setting names it as
    the default attacker or judge. Scans of other targets that once used it as attacker or judge stay: their
    results recorded what it answered.
    """
    _refuse_busy_target(session, target)
    scan_ids = target_scan_ids(session, target.id)
    removed = removal_of_scans(session, scan_ids)
    triage = session.scalar(select(func.count()).select_from(FindingTriage).where(FindingTriage.target_id == target.id))
    details: dict[str, Any] = {
        "name": target.name,
        "type": target.type,
        "triage": int(triage or 0),
        **removed.as_dict(),
    }
    target_id = target.id
    _delete_scan_rows(session, scan_ids)
    session.execute(
        delete(FindingTriage).where(FindingTriage.target_id == target_id),
        execution_options={"synchronize_session": False},
    )
    session.expunge(target)
    session.execute(delete(Target).where(Target.id == target_id), execution_options={"synchronize_session": False})
    _audit(session, actor, "target_delete", "target", target_id, details)
    return removed


def prune_candidates(session: Session, older_than_days: int) -> list[Scan]:
    """Ended scans (completed, failed, cancelled) that ended more than `older_than_days` days ago (by their
    creation when they record no end), oldest first. A legacy row with neither date is kept: its age is unknown."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    ended = func.coalesce(Scan.completed_at, Scan.created_at)
    query = select(Scan).where(Scan.status.not_in(ACTIVE), ended < cutoff).order_by(Scan.id)
    return list(session.scalars(query))


def prune_scans(
    session: Session, older_than_days: int, actor: Actor, *, dry_run: bool = False
) -> tuple[list[int], Removed]:
    """Delete the scans past the retention period (`prune_candidates`), each with its own audit record
    (`scan_delete`, reason `retention`); with `dry_run`, only say what would go."""
    scans = prune_candidates(session, older_than_days)
    ids = [scan.id for scan in scans]
    if dry_run:
        return ids, removal_of_scans(session, ids)
    totals = Removed(0, 0, 0)
    for scan in scans:
        removed = delete_scan(session, scan, actor, reason=f"retention ({older_than_days} days)")
        totals = Removed(totals.scans + 1, totals.attempts + removed.attempts, totals.findings + removed.findings)
    return ids, totals
