"""The re-test rule (`app.engine.retest`) over stored platform scans: the scan diff, and the findings of each
target that are still open across its completed scans (the overview and the compliance page read these).

A scan records, in `scans.results[COVERAGE_KEY]`, its scored attempts per probe and strategy stack, and each
finding records its own in `extra_data[SCORED_KEY]`; scans written before either existed are read from their
attempts instead, so old history follows the same rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.enums import AttemptOutcome, ScanStatus
from app.db.models import Attempt, Scan, Vulnerability
from app.engine.retest import SCORED_OUTCOMES, Coverage, RetestDiff, compare, coverage_from_counts, retest

__all__ = [
    "COVERAGE_KEY",
    "SCORED_KEY",
    "OpenFinding",
    "StoredFinding",
    "diff_scans",
    "open_findings",
    "scan_coverage",
]

#: Key of `scans.results` holding the scan's scored attempts per probe and strategy stack.
COVERAGE_KEY = "retest_coverage"
#: Key of a finding's `extra_data` holding its scan's scored attempts per strategy stack of its probe.
SCORED_KEY = "scored_by_stack"


@dataclass(frozen=True)
class StoredFinding:
    """What the rule needs of one stored finding (its row stays in the database)."""

    id: int
    scan_id: int
    fingerprint: str
    probe_id: str
    severity: str | None
    stacks: tuple[str, ...]
    scored: Mapping[str, int] | None


@dataclass(frozen=True)
class OpenFinding:
    """A weakness of a target still open after its latest completed scan."""

    target_id: int
    finding: StoredFinding
    #: The target's latest completed scan (the finding is from it, or from an older one it did not re-test).
    latest_scan_id: int
    #: When the scan that last found it completed.
    found_at: datetime | None
    #: Why the latest scan did not re-test it (empty when the latest scan found it).
    reason: str = ""

    @property
    def not_retested(self) -> bool:
        """Found by an older scan and not re-tested since: open, but its evidence is not from the latest scan."""
        return self.finding.scan_id != self.latest_scan_id


def _stored(row: Any) -> StoredFinding:
    extra = row.extra_data if isinstance(row.extra_data, dict) else {}
    stacks = extra.get("strategy_stacks")
    scored = extra.get(SCORED_KEY)
    return StoredFinding(
        id=row.id,
        scan_id=row.scan_id,
        fingerprint=row.fingerprint,
        probe_id=row.probe_name or "",
        severity=row.severity.value if row.severity is not None else None,
        stacks=tuple(str(stack) for stack in stacks) if isinstance(stacks, list) else (),
        scored={str(k): int(v) for k, v in scored.items()} if isinstance(scored, dict) else None,
    )


_COLUMNS = (
    Vulnerability.id,
    Vulnerability.scan_id,
    Vulnerability.fingerprint,
    Vulnerability.probe_name,
    Vulnerability.severity,
    Vulnerability.extra_data,
)


def scan_coverage(session: Session, scan_ids: Collection[int]) -> dict[int, Coverage]:
    """Scored attempts per probe and stack of each scan (from its results, else counted from its attempts)."""
    coverage: dict[int, Coverage] = {}
    if not scan_ids:
        return coverage
    for scan_id, stored in session.execute(
        select(Scan.id, Scan.results[COVERAGE_KEY]).where(Scan.id.in_(list(scan_ids)))
    ):
        if isinstance(stored, dict):
            coverage[scan_id] = stored
    missing = [scan_id for scan_id in scan_ids if scan_id not in coverage]
    if missing:
        counted: dict[int, list[tuple[str, str, str, int]]] = defaultdict(list)
        rows = session.execute(
            select(Attempt.scan_id, Attempt.probe_id, Attempt.strategies, Attempt.outcome, func.count())
            .where(Attempt.scan_id.in_(missing), Attempt.outcome.in_([AttemptOutcome(o) for o in SCORED_OUTCOMES]))
            .group_by(Attempt.scan_id, Attempt.probe_id, Attempt.strategies, Attempt.outcome)
        )
        for scan_id, probe_id, stack, outcome, count in rows:
            counted[scan_id].append((probe_id, stack, outcome.value, count))
        for scan_id in missing:
            coverage[scan_id] = coverage_from_counts(counted.get(scan_id, []))
    return coverage


def _findings(session: Session, scan_id: int) -> dict[str, StoredFinding]:
    rows = session.execute(
        select(*_COLUMNS).where(Vulnerability.scan_id == scan_id, Vulnerability.fingerprint.is_not(None))
    )
    return {row.fingerprint: _stored(row) for row in rows}


def diff_scans(session: Session, base_id: int, head_id: int) -> RetestDiff[StoredFinding]:
    """The findings of `base_id` against `head_id` (two scans of one target; the caller checks that)."""
    head_coverage = scan_coverage(session, [head_id])[head_id]
    return compare(
        _findings(session, base_id),
        _findings(session, head_id),
        probe_of=lambda finding: finding.probe_id,
        stacks_of=lambda finding: finding.stacks,
        after_coverage=head_coverage,
        earlier_of=lambda finding: finding.scored,
    )


def open_findings(session: Session, target_ids: Collection[int] | None = None) -> dict[int, list[OpenFinding]]:
    """Per target (all, or those given): the weaknesses still open after its completed scans.

    For each weakness (fingerprint) the scan that last found it counts; it is open unless a later completed
    scan of the target re-tested it (`app.engine.retest.retest`) and did not find it.
    """
    query = select(Scan.id, Scan.target_id, Scan.completed_at).where(
        Scan.status == ScanStatus.COMPLETED, Scan.target_id.is_not(None)
    )
    if target_ids is not None:
        query = query.where(Scan.target_id.in_(list(target_ids)))
    scans: dict[int, list[int]] = defaultdict(list)
    completed_at: dict[int, datetime | None] = {}
    for scan_id, target_id, completed in session.execute(query.order_by(Scan.id)):
        if target_id is None:  # filtered out above; narrows the type
            continue
        scans[target_id].append(scan_id)
        completed_at[scan_id] = completed
    if not scans:
        return {}
    ranked = (
        select(
            *_COLUMNS,
            Scan.target_id,
            func.row_number()
            .over(partition_by=(Scan.target_id, Vulnerability.fingerprint), order_by=Vulnerability.scan_id.desc())
            .label("rank"),
        )
        .join(Scan, Scan.id == Vulnerability.scan_id)
        .where(Scan.id.in_(list(completed_at)), Vulnerability.fingerprint.is_not(None))
        .subquery()
    )
    latest = session.execute(select(ranked).where(ranked.c.rank == 1)).all()
    later = {
        scan_id for row in latest for scan_id in scans[row.target_id] if scan_id > row.scan_id
    }  # only scans after a finding can re-test it
    coverage = scan_coverage(session, later)
    result: dict[int, list[OpenFinding]] = defaultdict(list)
    for row in latest:
        finding = _stored(row)
        newest = scans[row.target_id][-1]
        reason = ""
        fixed = False
        for scan_id in (s for s in scans[row.target_id] if s > finding.scan_id):
            verdict = retest(finding.probe_id, finding.stacks, coverage[scan_id], finding.scored)
            if verdict.retested:
                fixed = True
                break
            reason = verdict.reason
        if not fixed:
            result[row.target_id].append(
                OpenFinding(row.target_id, finding, newest, completed_at.get(finding.scan_id), reason)
            )
    return result
