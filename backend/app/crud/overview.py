"""The security posture at a glance: what the API's `GET /summary` and the dashboard's overview show.

"Open" findings are those of each target's latest completed scan that no reviewer has set aside: a triage of
false positive, accepted risk or fixed takes a finding out; open, confirmed or no triage at all keeps it in.
Older scans do not count, so fixing a weakness and scanning again makes it leave the overview.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.db.enums import ScanStatus, Severity, TriageState
from app.db.models import FindingTriage, Scan, Target, Vulnerability

__all__ = ["CLOSED_TRIAGE", "Posture", "RiskPoint", "Summary", "summary"]

#: Triage states that take a finding out of the open count.
CLOSED_TRIAGE = frozenset({TriageState.FALSE_POSITIVE, TriageState.ACCEPTED_RISK, TriageState.FIXED})
#: How many completed scans the risk trend shows, newest last.
TREND_LENGTH = 30


@dataclass(frozen=True)
class Posture:
    """One target as its latest completed scan left it."""

    target_id: int
    target_name: str
    scan_id: int
    completed_at: datetime | None
    risk_score: float | None
    open_by_severity: dict[str, int]

    @property
    def open_findings(self) -> int:
        return sum(self.open_by_severity.values())


@dataclass(frozen=True)
class RiskPoint:
    """The risk score of one completed scan."""

    scan_id: int
    target_id: int | None
    target_name: str | None
    completed_at: datetime | None
    risk_score: float


@dataclass(frozen=True)
class Summary:
    targets: int
    scans_by_status: dict[str, int]
    open_by_severity: dict[str, int]
    posture: list[Posture] = field(default_factory=list)
    risk_trend: list[RiskPoint] = field(default_factory=list)


def _latest_completed(session: Session) -> list[tuple[Scan, Target]]:
    newest = (
        select(func.max(Scan.id).label("scan_id"))
        .where(Scan.status == ScanStatus.COMPLETED, Scan.target_id.is_not(None))
        .group_by(Scan.target_id)
        .subquery()
    )
    rows = session.execute(
        select(Scan, Target)
        .join(newest, newest.c.scan_id == Scan.id)
        .join(Target, Target.id == Scan.target_id)
        .order_by(Scan.risk_score.desc().nulls_last(), Scan.id.desc())
    )
    return [(scan, target) for scan, target in rows]


def _open_counts(session: Session, scan_ids: list[int]) -> dict[int, Counter[str]]:
    if not scan_ids:
        return {}
    triage = and_(FindingTriage.target_id == Scan.target_id, FindingTriage.fingerprint == Vulnerability.fingerprint)
    rows = session.execute(
        select(Vulnerability.scan_id, Vulnerability.severity, func.count())
        .join(Scan, Scan.id == Vulnerability.scan_id)
        .outerjoin(FindingTriage, triage)
        .where(
            Vulnerability.scan_id.in_(scan_ids),
            FindingTriage.state.is_(None) | FindingTriage.state.not_in(list(CLOSED_TRIAGE)),
        )
        .group_by(Vulnerability.scan_id, Vulnerability.severity)
    )
    counts: dict[int, Counter[str]] = {}
    for scan_id, severity, count in rows:
        counts.setdefault(scan_id, Counter())[(severity or Severity.INFO).value] += count
    return counts


def _severity_dict(counts: Counter[str]) -> dict[str, int]:
    return {severity.value: counts.get(severity.value, 0) for severity in Severity}


def summary(session: Session) -> Summary:
    """Counts, each target's posture and the recent risk trend, in a handful of queries."""
    targets = session.scalar(select(func.count()).select_from(Target)) or 0
    by_status = {status.value: 0 for status in ScanStatus}
    for status, count in session.execute(select(Scan.status, func.count()).group_by(Scan.status)):
        by_status[status.value] = count
    latest = _latest_completed(session)
    open_counts = _open_counts(session, [scan.id for scan, _ in latest])
    posture = [
        Posture(
            target_id=target.id,
            target_name=target.name,
            scan_id=scan.id,
            completed_at=scan.completed_at,
            risk_score=scan.risk_score,
            open_by_severity=_severity_dict(open_counts.get(scan.id, Counter())),
        )
        for scan, target in latest
    ]
    total: Counter[str] = Counter()
    for counts in open_counts.values():
        total.update(counts)
    recent = session.execute(
        select(Scan.id, Scan.target_id, Target.name, Scan.completed_at, Scan.risk_score)
        .outerjoin(Target, Target.id == Scan.target_id)
        .where(Scan.status == ScanStatus.COMPLETED, Scan.risk_score.is_not(None))
        .order_by(Scan.id.desc())
        .limit(TREND_LENGTH)
    ).all()
    trend = [RiskPoint(row[0], row[1], row[2], row[3], float(row[4] or 0.0)) for row in reversed(recent)]
    return Summary(targets, by_status, _severity_dict(total), posture, trend)
