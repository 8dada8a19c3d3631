"""Triage on the platform: the rules a decision must follow, and the decisions of a target as the engine-side
`TriageEntry` list that reports, CI gating and the triage file (`secureai.triage/v1`) read.

- An accepted risk needs a reason and ends: without an explicit `expires_at` it lapses after
  `ACCEPTED_RISK_DAYS`; a date in the past is refused. Only an accepted risk has an expiry.
- A false positive needs a reason too: the next reader must be able to check it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.enums import TriageState
from app.db.models import FindingTriage, Scan, Target, User, Vulnerability
from app.reports.triage import TriageEntry, triage_file

__all__ = ["ACCEPTED_RISK_DAYS", "TriageRuleError", "expiry_for", "target_triage", "target_triage_file"]

#: How long an accepted risk lasts when the reviewer gives no end date.
ACCEPTED_RISK_DAYS = 90


class TriageRuleError(ValueError):
    """A triage decision that breaks a rule above; the message says which."""


def expiry_for(
    state: TriageState, reason: str | None, expires_at: datetime | None, now: datetime | None = None
) -> datetime | None:
    """The expiry to store (naive UTC, as the database keeps times) for a decision, or TriageRuleError."""
    now = now or datetime.now(UTC)
    if state in (TriageState.ACCEPTED_RISK, TriageState.FALSE_POSITIVE) and not (reason or "").strip():
        raise TriageRuleError(f"{state.value.replace('_', ' ')} needs a reason (comment)")
    if state != TriageState.ACCEPTED_RISK:
        if expires_at is not None:
            raise TriageRuleError("only an accepted risk has an expiry (expires_at)")
        return None
    if expires_at is None:
        expires_at = now + timedelta(days=ACCEPTED_RISK_DAYS)
    try:
        expires_at = expires_at.replace(tzinfo=UTC) if expires_at.tzinfo is None else expires_at.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. year 1 at UTC+1
        raise TriageRuleError("expires_at is out of range") from None
    if expires_at <= now:
        raise TriageRuleError("expires_at must be in the future")
    return expires_at.replace(tzinfo=None, microsecond=0)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def target_triage(session: Session, target_id: int) -> list[TriageEntry]:
    """Every triage decision on the target's weaknesses, with the probe each fingerprint stands for."""
    rows = session.execute(
        select(FindingTriage, User.username)
        .outerjoin(User, User.id == FindingTriage.updated_by)
        .where(FindingTriage.target_id == target_id)
        .order_by(FindingTriage.id)
    ).all()
    fingerprints = [triage.fingerprint for triage, _ in rows]
    probes = dict(
        session.execute(
            select(Vulnerability.fingerprint, Vulnerability.probe_name)
            .join(Scan, Scan.id == Vulnerability.scan_id)
            .where(Scan.target_id == target_id, Vulnerability.fingerprint.in_(fingerprints))
            .distinct()
        ).all()
    )
    return [
        TriageEntry(
            state=triage.state.value,
            fingerprint=triage.fingerprint,
            probe_id=probes.get(triage.fingerprint),
            reason=triage.comment,
            expires_at=_utc(triage.expires_at),
            updated_by=username,
            updated_at=triage.updated_at.replace(tzinfo=UTC).isoformat() if triage.updated_at else None,
        )
        for triage, username in rows
    ]


def target_triage_file(session: Session, target: Target) -> dict[str, Any]:
    """The target's triage as a `secureai.triage/v1` document (`secureai scan|report --triage` reads it)."""
    return triage_file(target_triage(session, target.id), target.name)
