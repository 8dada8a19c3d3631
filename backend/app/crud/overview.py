"""The security posture at a glance: what the API's `GET /summary` and the dashboard's overview show.

"Open" findings are each target's weaknesses that its completed scans found and did not since show fixed
(`app.crud.retest.open_findings`: a later scan must have re-tested the same probe and strategy stacks with enough
scored attempts), less those a reviewer set aside: a triage of false positive, accepted risk or fixed takes a
finding out; open, confirmed or no triage at all keeps it in. A narrower re-scan therefore leaves the findings
it did not re-test open (counted as "not re-tested"), and fixing a weakness and re-testing it makes it leave.

The risk trend is per target: a line joining two targets' scores would read as a fix or a regression.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from app.crud.retest import open_scope
from app.db.enums import ScanStatus, Severity, TriageState
from app.db.models import FindingTriage, Scan, Target, Vulnerability, utcnow

__all__ = ["CLOSED_TRIAGE", "Posture", "RiskPoint", "Summary", "TargetTrend", "summary"]

#: Triage states that take a finding out of the open count.
CLOSED_TRIAGE = frozenset({TriageState.FALSE_POSITIVE, TriageState.ACCEPTED_RISK, TriageState.FIXED})
#: How many completed scans the risk trend shows (per target in `risk_trends`), newest last.
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
    #: Open findings found by an older scan that the latest one did not re-test (in `open_by_severity` too).
    not_retested: int = 0

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
class TargetTrend:
    """The risk score of one target's latest completed scans, oldest first: one line of the trend."""

    target_id: int
    target_name: str
    points: list[RiskPoint]


@dataclass(frozen=True)
class Summary:
    targets: int
    scans_by_status: dict[str, int]
    open_by_severity: dict[str, int]
    posture: list[Posture] = field(default_factory=list)
    #: The latest completed scans of all targets, each naming its target (draw one line per target).
    risk_trend: list[RiskPoint] = field(default_factory=list)
    #: The same per target, riskiest target first (the order of `posture`).
    risk_trends: list[TargetTrend] = field(default_factory=list)
    #: Open findings, of all targets, that the latest scan of their target did not re-test.
    not_retested: int = 0


def conclusive() -> ColumnElement[bool]:
    """A completed scan that is not inconclusive (errors above its limit): only those move the posture, the risk
    trend and compliance; an inconclusive one is shown on its own page with its banner (issue 15)."""
    flag: ColumnElement[bool] = Scan.results["inconclusive"].as_boolean()
    return flag.is_not(True)


def _latest_completed(session: Session) -> list[tuple[Scan, Target]]:
    newest = (
        select(func.max(Scan.id).label("scan_id"))
        .where(Scan.status == ScanStatus.COMPLETED, conclusive(), Scan.target_id.is_not(None))
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


def _open_counts(session: Session, targets: list[int]) -> tuple[dict[int, Counter[str]], dict[int, int]]:
    """Per target: open findings by severity, and how many of them its latest scan did not re-test."""
    if not targets:
        return {}, {}
    scope = open_scope(session, targets)
    set_aside = and_(
        FindingTriage.state.in_(list(CLOSED_TRIAGE)),
        # an accepted risk past its expiry is open again
        or_(FindingTriage.expires_at.is_(None), FindingTriage.expires_at > utcnow()),
    )
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    stale: Counter[int] = Counter()
    if scope.latest:
        fresh = Vulnerability.scan_id.in_(list(scope.latest.values()))
        triage = and_(FindingTriage.target_id == Scan.target_id, FindingTriage.fingerprint == Vulnerability.fingerprint)
        rows = session.execute(
            select(Scan.target_id, Vulnerability.severity, fresh, func.count())
            .join(Scan, Scan.id == Vulnerability.scan_id)
            .outerjoin(FindingTriage, triage)
            .where(scope.condition(), FindingTriage.id.is_(None) | not_(set_aside))
            .group_by(Scan.target_id, Vulnerability.severity, fresh)
        )
        for target_id, severity, is_fresh, count in rows:
            if target_id is None:  # the scope's scans all have one; narrows the type
                continue
            counts[target_id][(severity or Severity.INFO).value] += count
            stale[target_id] += 0 if is_fresh else count
    if scope.folded:
        closed = {
            (target_id, fingerprint)
            for target_id, fingerprint in session.execute(
                select(FindingTriage.target_id, FindingTriage.fingerprint).where(
                    FindingTriage.target_id.in_(list(scope.folded)), set_aside
                )
            )
        }
        for target_id, items in scope.folded.items():
            open_items = [i for i in items if (target_id, i.finding.fingerprint) not in closed]
            counts[target_id] = Counter(item.finding.severity or Severity.INFO.value for item in open_items)
            stale[target_id] = sum(item.not_retested for item in open_items)
    return dict(counts), dict(stale)


def _trends(session: Session, posture: list[Posture]) -> list[TargetTrend]:
    """The last `TREND_LENGTH` completed scans of each target, one query (a window per target)."""
    if not posture:
        return []
    numbered = (
        select(
            Scan.id,
            Scan.target_id,
            Scan.completed_at,
            Scan.risk_score,
            func.row_number().over(partition_by=Scan.target_id, order_by=Scan.id.desc()).label("rank"),
        )
        .where(
            Scan.status == ScanStatus.COMPLETED,
            conclusive(),
            Scan.risk_score.is_not(None),
            Scan.target_id.in_([p.target_id for p in posture]),
        )
        .subquery()
    )
    points: dict[int, list[RiskPoint]] = {}
    names = {p.target_id: p.target_name for p in posture}
    rows = session.execute(select(numbered).where(numbered.c.rank <= TREND_LENGTH).order_by(numbered.c.id))
    for row in rows:
        points.setdefault(row.target_id, []).append(
            RiskPoint(row.id, row.target_id, names[row.target_id], row.completed_at, float(row.risk_score or 0.0))
        )
    return [TargetTrend(p.target_id, p.target_name, points[p.target_id]) for p in posture if p.target_id in points]


def _severity_dict(counts: Counter[str]) -> dict[str, int]:
    return {severity.value: counts.get(severity.value, 0) for severity in Severity}


def summary(session: Session) -> Summary:
    """Counts, each target's posture and the recent risk trend, in a handful of queries."""
    targets = session.scalar(select(func.count()).select_from(Target)) or 0
    by_status = {status.value: 0 for status in ScanStatus}
    for status, count in session.execute(select(Scan.status, func.count()).group_by(Scan.status)):
        by_status[status.value] = count
    latest = _latest_completed(session)
    open_counts, stale = _open_counts(session, [target.id for _, target in latest])
    posture = [
        Posture(
            target_id=target.id,
            target_name=target.name,
            scan_id=scan.id,
            completed_at=scan.completed_at,
            risk_score=scan.risk_score,
            open_by_severity=_severity_dict(open_counts.get(target.id, Counter())),
            not_retested=stale.get(target.id, 0),
        )
        for scan, target in latest
    ]
    total: Counter[str] = Counter()
    for counts in open_counts.values():
        total.update(counts)
    recent = session.execute(
        select(Scan.id, Scan.target_id, Target.name, Scan.completed_at, Scan.risk_score)
        .outerjoin(Target, Target.id == Scan.target_id)
        .where(Scan.status == ScanStatus.COMPLETED, conclusive(), Scan.risk_score.is_not(None))
        .order_by(Scan.id.desc())
        .limit(TREND_LENGTH)
    ).all()
    trend = [RiskPoint(row[0], row[1], row[2], row[3], float(row[4] or 0.0)) for row in reversed(recent)]
    return Summary(
        targets, by_status, _severity_dict(total), posture, trend, _trends(session, posture), sum(stale.values())
    )
