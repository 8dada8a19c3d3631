"""Stored compliance results read back: coverage per framework, scan by scan, for a target's trend.

The API (`GET /targets/{id}/compliance/trend`) and the CLI (`secureai compliance trend`) both read it here,
so both count statuses and coverage the same way.

`target_status` is a target's standing per requirement across its scans (`GET /targets/{id}/compliance`, the
dashboard's compliance page): a requirement the latest scan did not assess keeps its last assessed status, and
one that failed on a finding the latest scan did not re-test (`app.crud.retest`) stays failed; both are marked
stale, with the scan and date the status comes from.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.crud.overview import conclusive
from app.crud.retest import open_findings
from app.db.enums import ComplianceStatus, ScanStatus, TriageState
from app.db.models import ComplianceMapping, FindingTriage, Scan, Target, Vulnerability

__all__ = ["RequirementStanding", "TrendPoint", "coverage_pct", "find_target", "target_status", "target_trend"]


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
            .where(Scan.target_id == target_id, Scan.status == ScanStatus.COMPLETED, conclusive())
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


@dataclass(frozen=True)
class RequirementStanding:
    """One requirement of one framework as the target's scans leave it."""

    requirement_id: str
    title: str
    status: ComplianceStatus | None
    #: The scan the status comes from, and when it completed.
    scan_id: int
    assessed_at: datetime | None
    #: True when the status is not the latest scan's own assessment (it did not assess or re-test the evidence).
    stale: bool = False
    evidence: str | None = None
    finding_ids: list[int] = field(default_factory=list)


def _failed_probes(evidence: str | None) -> list[str]:
    try:
        parsed = json.loads(evidence) if evidence else {}
    except ValueError:
        return []
    probes = parsed.get("failed_probes") if isinstance(parsed, dict) else None
    return [str(p) for p in probes] if isinstance(probes, list) else []


def target_status(session: Session, target_id: int) -> dict[str, list[RequirementStanding]]:
    """Per framework, each requirement's standing after the target's completed scans (module docstring)."""
    scans = {
        scan_id: completed
        for scan_id, completed in session.execute(
            select(Scan.id, Scan.completed_at)
            .where(Scan.target_id == target_id, Scan.status == ScanStatus.COMPLETED, conclusive())
            .order_by(Scan.id)
        )
    }
    if not scans:
        return {}
    latest = max(scans)
    rows = list(
        session.scalars(
            select(ComplianceMapping)
            .where(ComplianceMapping.scan_id.in_(list(scans)))
            .order_by(ComplianceMapping.scan_id, ComplianceMapping.id)
        )
    )
    # failing evidence still open but not re-tested by the latest scan: (scan that found it, probe) -> finding id
    carried = {
        (item.finding.scan_id, item.finding.probe_id): item.finding.id
        for item in open_findings(session, [target_id]).get(target_id, [])
        if item.not_retested
    }
    history: dict[tuple[str, str], list[ComplianceMapping]] = defaultdict(list)
    for row in rows:
        history[(row.framework, row.requirement_id)].append(row)
    standing: dict[str, list[RequirementStanding]] = defaultdict(list)
    for (framework, _), items in history.items():
        now = items[-1]
        fresh = now.scan_id == latest
        still_failing = [
            (row, carried[(row.scan_id, probe)])
            for row in items
            if row.scan_id != latest
            for probe in _failed_probes(row.evidence)
            if (row.scan_id, probe) in carried
        ]
        if still_failing and not (fresh and now.compliance_status is ComplianceStatus.NON_COMPLIANT):
            source = still_failing[-1][0]
            ids = sorted({finding_id for _, finding_id in still_failing})
            standing[framework].append(
                _standing(source, scans, stale=True, status=ComplianceStatus.NON_COMPLIANT, ids=ids)
            )
            continue
        if not fresh or now.compliance_status is ComplianceStatus.NOT_ASSESSED:
            assessed = [row for row in items if row.compliance_status is not ComplianceStatus.NOT_ASSESSED]
            if assessed:
                standing[framework].append(_standing(assessed[-1], scans, stale=True))
                continue
        standing[framework].append(_standing(now, scans, stale=not fresh))
    false_positives = _false_positive_probes(session, target_id)
    return {
        framework: [_without_false_positives(item, false_positives) for item in items]
        for framework, items in standing.items()
    }


def _false_positive_probes(session: Session, target_id: int) -> set[str]:
    """Probes whose weakness on this target a reviewer marked as a false positive."""
    triaged = and_(FindingTriage.target_id == Scan.target_id, FindingTriage.fingerprint == Vulnerability.fingerprint)
    rows = session.scalars(
        select(Vulnerability.probe_name)
        .join(Scan, Scan.id == Vulnerability.scan_id)
        .join(FindingTriage, triaged)
        .where(Scan.target_id == target_id, FindingTriage.state == TriageState.FALSE_POSITIVE)
        .distinct()
    )
    return {probe for probe in rows if probe}


def _without_false_positives(item: RequirementStanding, false_positives: set[str]) -> RequirementStanding:
    """A requirement failed only by findings triaged as false positives did not fail: their probes were scored
    and, per the reviewer, did not succeed (partial when some of its probes went unscored). An accepted risk
    still fails (docs/compliance.md)."""
    failed = _failed_probes(item.evidence)
    if item.status is not ComplianceStatus.NON_COMPLIANT or not failed or not set(failed) <= false_positives:
        return item
    try:
        unscored = (json.loads(item.evidence or "{}") or {}).get("unscored_probes") or []
    except ValueError:
        unscored = []
    status = ComplianceStatus.PARTIAL if unscored else ComplianceStatus.COMPLIANT
    return replace(item, status=status, finding_ids=[])


def _standing(
    row: ComplianceMapping,
    scans: dict[int, datetime | None],
    *,
    stale: bool,
    status: ComplianceStatus | None = None,
    ids: list[int] | None = None,
) -> RequirementStanding:
    return RequirementStanding(
        requirement_id=row.requirement_id,
        title=row.requirement_name,
        status=status or row.compliance_status,
        scan_id=row.scan_id,
        assessed_at=scans.get(row.scan_id),
        stale=stale,
        evidence=row.evidence,
        finding_ids=ids if ids is not None else [int(i) for i in row.vulnerability_ids or []],
    )
