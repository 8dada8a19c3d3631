"""Stored compliance results read back: coverage per framework, scan by scan, for a target's trend.

The API (`GET /targets/{id}/compliance/trend`) and the CLI (`secureai compliance trend`) both read it here,
so both count statuses and coverage the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.enums import ComplianceStatus, ScanStatus
from app.db.models import ComplianceMapping, Scan, Target

__all__ = ["TrendPoint", "coverage_pct", "find_target", "target_trend"]


@dataclass(frozen=True)
class TrendPoint:
    """One framework in one completed scan."""

    scan_id: int
    completed_at: datetime | None
    coverage_pct: float
    counts: dict[str, int]


def coverage_pct(counts: Counter[str]) -> float:
    """Share of requirements a scan assessed (anything but not assessed), in percent."""
    total = sum(counts.values())
    tested = total - counts[ComplianceStatus.NOT_ASSESSED.value]
    return round(100 * tested / total, 1) if total else 0.0


def find_target(session: Session, reference: str) -> Target | None:
    """A target by id (all digits) or by its unique name."""
    if reference.isdigit():
        return session.get(Target, int(reference))
    return session.scalars(select(Target).where(Target.name == reference)).first()


def target_trend(session: Session, target_id: int) -> dict[str, list[TrendPoint]]:
    """Per framework, oldest first: coverage and status counts of each completed scan of the target."""
    scans = list(
        session.scalars(
            select(Scan)
            .where(Scan.target_id == target_id, Scan.status == ScanStatus.COMPLETED)
            .order_by(Scan.completed_at, Scan.id)
        )
    )
    counts: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    if scans:
        rows = session.execute(
            select(ComplianceMapping.framework, ComplianceMapping.scan_id, ComplianceMapping.compliance_status).where(
                ComplianceMapping.scan_id.in_([scan.id for scan in scans])
            )
        )
        for framework, scan_id, status in rows:
            counts[(framework, scan_id)][status.value if status else "unknown"] += 1
    trend: dict[str, list[TrendPoint]] = {}
    for framework in sorted({framework for framework, _ in counts}):
        trend[framework] = [
            TrendPoint(scan.id, scan.completed_at, coverage_pct(found), dict(found))
            for scan in scans
            if (found := counts.get((framework, scan.id)))
        ]
    return trend
