"""The re-test rule (`app.engine.retest`) over stored platform scans: the scan diff, and the findings of each
target that are still open across its completed scans (the overview and the compliance page read these).

What a scan re-tested is counted from its attempts (scored ones per probe and strategy stack), and each
finding records its own scored attempts in `extra_data[SCORED_KEY]`. A scan also records, in
`scans.results[CARRIED_KEY]`, the earlier findings still open after it, so the overview reads two scans' worth
of findings, not the history. Like the overview, only completed scans that are not inconclusive count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from app.db.enums import AttemptOutcome, ScanStatus
from app.db.models import Attempt, Scan, Vulnerability
from app.engine.retest import SCORED_OUTCOMES, Coverage, RetestDiff, compare, coverage_from_counts, retest

__all__ = [
    "CARRIED_KEY",
    "SCORED_KEY",
    "OpenFinding",
    "OpenScope",
    "StoredFinding",
    "carried_after",
    "diff_scans",
    "open_findings",
    "open_scope",
    "scan_coverage",
]

#: Key of `scans.results` holding the findings of the target's earlier scans still open after this scan:
#: {"base": the previous completed scan when it was written, "open": [[finding id, why not re-tested], ...]}.
CARRIED_KEY = "retest_carried"
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
    """A finding from a row of `_COLUMNS` (or of `_LIGHT`: then stacks and scored attempts are unknown)."""
    data = row.extra_data if "extra_data" in row._fields else None
    extra = data if isinstance(data, dict) else {}
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


#: What counting and listing open findings needs; `_COLUMNS` adds what judging a re-test needs.
_LIGHT = (
    Vulnerability.id,
    Vulnerability.scan_id,
    Vulnerability.fingerprint,
    Vulnerability.probe_name,
    Vulnerability.severity,
)
_COLUMNS = (*_LIGHT, Vulnerability.extra_data)


def scan_coverage(
    session: Session, scan_ids: Collection[int], probes: Collection[str] | None = None
) -> dict[int, Coverage]:
    """Scored attempts per probe (all, or `probes`) and strategy stack of each scan, counted from its attempts."""
    if not scan_ids:
        return {}
    counted: dict[int, list[tuple[str, str, str, int]]] = defaultdict(list)
    query = select(Attempt.scan_id, Attempt.probe_id, Attempt.strategies, Attempt.outcome, func.count()).where(
        Attempt.scan_id.in_(list(scan_ids)), Attempt.outcome.in_([AttemptOutcome(o) for o in SCORED_OUTCOMES])
    )
    if probes is not None:
        query = query.where(Attempt.probe_id.in_(list(probes)))
    rows = session.execute(query.group_by(Attempt.scan_id, Attempt.probe_id, Attempt.strategies, Attempt.outcome))
    for scan_id, probe_id, stack, outcome, count in rows:
        counted[scan_id].append((probe_id, stack, outcome.value, count))
    return {scan_id: coverage_from_counts(counted.get(scan_id, [])) for scan_id in scan_ids}


def _findings(session: Session, scan_id: int) -> dict[str, StoredFinding]:
    rows = session.execute(
        select(*_LIGHT).where(Vulnerability.scan_id == scan_id, Vulnerability.fingerprint.is_not(None))
    )
    return {row.fingerprint: _stored(row) for row in rows}


def diff_scans(session: Session, base_id: int, head_id: int) -> RetestDiff[StoredFinding]:
    """The findings of `base_id` against `head_id` (two scans of one target; the caller checks that). Only the
    base findings the head did not find are read in detail, and only their probes' attempts are counted."""
    before, after = _findings(session, base_id), _findings(session, head_id)
    gone = [finding.id for key, finding in before.items() if key not in after]
    coverage: Coverage = {}
    if gone:
        rows = session.execute(select(*_COLUMNS).where(Vulnerability.id.in_(gone)))
        before |= {row.fingerprint: _stored(row) for row in rows}
        probes = {before[key].probe_id for key in before if key not in after}
        coverage = scan_coverage(session, [head_id], probes)[head_id]
    return compare(
        before,
        after,
        probe_of=lambda finding: finding.probe_id,
        stacks_of=lambda finding: finding.stacks,
        after_coverage=coverage,
        earlier_of=lambda finding: finding.scored,
    )


def _completed_scans(
    session: Session, target_ids: Collection[int] | None, upto: int | None
) -> tuple[dict[int, list[int]], dict[int, datetime | None]]:
    """Per target, its completed scans' ids in order (up to `upto`), and when each completed."""
    from app.crud.overview import conclusive  # the overview imports this module

    query = select(Scan.id, Scan.target_id, Scan.completed_at).where(
        Scan.status == ScanStatus.COMPLETED, conclusive(), Scan.target_id.is_not(None)
    )
    if target_ids is not None:
        query = query.where(Scan.target_id.in_(list(target_ids)))
    if upto is not None:
        query = query.where(Scan.id <= upto)
    scans: dict[int, list[int]] = defaultdict(list)
    completed_at: dict[int, datetime | None] = {}
    for scan_id, target_id, completed in session.execute(query.order_by(Scan.id)):
        if target_id is None:  # filtered out above; narrows the type
            continue
        scans[target_id].append(scan_id)
        completed_at[scan_id] = completed
    return scans, completed_at


def _carried_of(stored: Any, base: int | None) -> dict[int, str] | None:
    """A scan's stored `CARRIED_KEY` as finding id -> reason, or None when absent, malformed or written on
    another previous scan than `base` (a scan completed or was deleted since: the history decides)."""
    if not isinstance(stored, dict) or stored.get("base") != base or not isinstance(stored.get("open"), list):
        return None
    carried: dict[int, str] = {}
    for item in stored["open"]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)):
            return None
        carried[item[0]] = str(item[1])
    return carried


@dataclass(frozen=True)
class OpenScope:
    """Where the open findings of some targets are. For targets whose latest scan stored its carried findings
    they are rows in SQL (`condition`: the latest scan's findings and the carried ones), so they can be counted
    in the database; for the others they were worked out from the history (`folded`)."""

    #: Target -> its latest completed scan, for the targets answered in SQL.
    latest: dict[int, int]
    #: Carried finding id -> why the latest scan did not re-test it.
    carried: dict[int, str]
    #: Every completed scan of those targets -> its target.
    target_of: dict[int, int]
    completed_at: dict[int, datetime | None]
    folded: dict[int, list[OpenFinding]]

    def condition(self) -> ColumnElement[bool]:
        """The open findings (rows of `vulnerabilities`) of the targets in `latest`."""
        return and_(
            Vulnerability.fingerprint.is_not(None),
            Vulnerability.scan_id.in_(list(self.target_of)),
            or_(Vulnerability.scan_id.in_(list(self.latest.values())), Vulnerability.id.in_(list(self.carried))),
        )


def open_scope(session: Session, target_ids: Collection[int] | None = None, *, upto: int | None = None) -> OpenScope:
    """`OpenScope` of the targets (all, or those given) after their completed scans up to scan id `upto`."""
    scans, completed_at = _completed_scans(session, target_ids, upto)
    latest = {target_id: ids[-1] for target_id, ids in scans.items()}
    stored: dict[int, Any] = (
        {
            scan_id: value
            for scan_id, value in session.execute(
                select(Scan.id, Scan.results[CARRIED_KEY]).where(Scan.id.in_(list(latest.values())))
            )
        }
        if latest
        else {}
    )
    carried: dict[int, str] = {}
    quick: set[int] = set()
    for target_id, ids in scans.items():
        known = _carried_of(stored.get(latest[target_id]), ids[-2] if len(ids) > 1 else None)
        if known is not None:
            quick.add(target_id)
            carried |= known
    history = {target_id: ids for target_id, ids in scans.items() if target_id not in quick}
    return OpenScope(
        latest={target_id: latest[target_id] for target_id in quick},
        carried=carried,
        target_of={scan_id: target_id for target_id in quick for scan_id in scans[target_id]},
        completed_at=completed_at,
        folded=_fold(session, history, completed_at) if history else {},
    )


def open_findings(
    session: Session, target_ids: Collection[int] | None = None, *, upto: int | None = None, detail: bool = False
) -> dict[int, list[OpenFinding]]:
    """Per target (all, or those given): the weaknesses still open after its completed scans (up to scan id
    `upto`); with `detail`, each with the stacks and scored attempts a later re-test is judged on.

    For each weakness (fingerprint) the scan that last found it counts; it is open unless a later completed
    scan of the target re-tested it (`app.engine.retest.retest`) and did not find it. The latest scan's stored
    `CARRIED_KEY` answers this without reading older findings; when it is missing or stale the scans' history
    is folded again.
    """
    scope = open_scope(session, target_ids, upto=upto)
    result: dict[int, list[OpenFinding]] = defaultdict(list)
    if scope.latest:
        for row in session.execute(select(*(_COLUMNS if detail else _LIGHT)).where(scope.condition())):
            owner = scope.target_of[row.scan_id]
            finding = _stored(row)
            newest = scope.latest[owner]
            reason = scope.carried.get(finding.id, "") if finding.scan_id != newest else ""
            result[owner].append(OpenFinding(owner, finding, newest, scope.completed_at.get(finding.scan_id), reason))
    return dict(result) | scope.folded


def _fold(
    session: Session, scans: dict[int, list[int]], completed_at: dict[int, datetime | None]
) -> dict[int, list[OpenFinding]]:
    """`open_findings` from the whole history of the targets' scans (every finding they recorded)."""
    ranked = (
        select(
            *_COLUMNS,
            Scan.target_id,
            func.row_number()
            .over(partition_by=(Scan.target_id, Vulnerability.fingerprint), order_by=Vulnerability.scan_id.desc())
            .label("rank"),
        )
        .join(Scan, Scan.id == Vulnerability.scan_id)
        .where(Scan.id.in_([s for ids in scans.values() for s in ids]), Vulnerability.fingerprint.is_not(None))
        .subquery()
    )
    latest = session.execute(select(ranked).where(ranked.c.rank == 1)).all()
    later = {
        scan_id for row in latest for scan_id in scans[row.target_id] if scan_id > row.scan_id
    }  # only scans after a finding can re-test it
    coverage = scan_coverage(session, later, {row.probe_name or "" for row in latest})
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


def carried_after(session: Session, scan: Scan, found: Collection[str], coverage: Coverage) -> dict[str, Any]:
    """What a scan stores under `CARRIED_KEY` when its findings are written: the findings of its target's
    earlier completed scans still open after it (it neither found them, fingerprints `found`, nor re-tested
    them, per its `coverage`), each with the reason; and the previous completed scan it was worked out on."""
    from app.crud.overview import conclusive  # the overview imports this module

    previous = session.scalar(
        select(func.max(Scan.id)).where(
            Scan.target_id == scan.target_id, Scan.status == ScanStatus.COMPLETED, conclusive(), Scan.id < scan.id
        )
    )
    if previous is None or scan.target_id is None:
        return {"base": None, "open": []}
    still: list[list[Any]] = []
    for item in open_findings(session, [scan.target_id], upto=previous, detail=True).get(scan.target_id, []):
        finding = item.finding
        if finding.fingerprint in found:
            continue
        verdict = retest(finding.probe_id, finding.stacks, coverage, finding.scored)
        if not verdict.retested:
            still.append([finding.id, verdict.reason])
    return {"base": previous, "open": still}
