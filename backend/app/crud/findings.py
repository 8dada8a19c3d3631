"""The findings workspace: one row per weakness (target + fingerprint) across scans, its history, bulk triage,
the per-probe / per-category / per-strategy success of a scan, two scans side by side, and a running scan's pace.

Queries only; the API routes (app/api/routes/workspace.py) and the dashboard pages call these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.crud.triage import TriageRuleError, expiry_for
from app.db.enums import AttemptOutcome, ScanStatus, Severity, TriageState
from app.db.models import Attempt, FindingTriage, Scan, Vulnerability, utcnow
from app.engine.probes.registry import load_probes
from app.engine.scoring import wilson_interval

#: severity, most severe first (the default order of the workspace)
SEVERITY_RANKS = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
View = Literal["all", "latest"]
#: A column and a direction: "-x" descending. `severity` puts the most severe first, then the higher lower bound
#: of the attack success rate (a critical at 68-100 % above a low at 21-100 %).
GroupSort = Literal[
    "severity",
    "-severity",
    "-asr_low",
    "asr_low",
    "-last_seen",
    "last_seen",
    "-first_seen",
    "first_seen",
    "-scans",
    "scans",
    "title",
    "-title",
]
GROUP_SORTS: tuple[str, ...] = get_args(GroupSort)
#: "untriaged" is a weakness nobody has decided on (no triage row, or one set back to open)
TriageFilter = Literal["untriaged", "open", "confirmed", "false_positive", "accepted_risk", "fixed"]
TRIAGE_FILTERS: tuple[str, ...] = get_args(TriageFilter)
#: the outcomes that are scored: ASR = vulnerable / (vulnerable + safe + refused)
SCORED = (AttemptOutcome.VULNERABLE, AttemptOutcome.SAFE, AttemptOutcome.REFUSED)
MAX_BULK = 200


class WorkspaceError(ValueError):
    """A request the workspace cannot answer (unknown finding, legacy finding, too many rows...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FindingFilter:
    """What the findings workspace shows: every value optional ("any")."""

    severity: tuple[Severity, ...] = ()
    owasp: str | None = None
    target_id: int | None = None
    scan_id: int | None = None
    triage: TriageFilter | None = None
    q: str | None = None
    view: View = "all"


@dataclass(frozen=True)
class Sighting:
    """One scan in which a weakness succeeded."""

    scan_id: int
    seen_at: datetime | None
    asr: float | None
    asr_low: float | None
    asr_high: float | None
    attempts: int | None
    finding_id: int


@dataclass
class Weakness:
    """One weakness of one target across scans, shown through its most recent finding (or the one of the scan
    the view is restricted to)."""

    finding_id: int
    scan_id: int
    target_id: int
    fingerprint: str
    title: str
    probe_id: str | None
    owasp: str | None
    severity: Severity | None
    asr: float | None
    asr_low: float | None
    asr_high: float | None
    attempts: int | None
    scans: int
    first_seen: datetime | None
    last_seen: datetime | None
    last_scan_id: int
    triage_state: TriageState | None
    triage_comment: str | None
    triage_updated_at: datetime | None
    history: list[Sighting] = field(default_factory=list)


@dataclass(frozen=True)
class WeaknessPage:
    items: list[Weakness]
    total: int
    offset: int
    limit: int


def _severity_rank(column: Any) -> ColumnElement[int]:
    return case({name: rank for name, rank in SEVERITY_RANKS.items()}, value=column, else_=len(SEVERITY_RANKS))


def _latest_scans() -> Any:
    """Each target's latest completed scan."""
    return (
        select(Scan.target_id.label("target_id"), func.max(Scan.id).label("scan_id"))
        .where(Scan.status == ScanStatus.COMPLETED, Scan.target_id.is_not(None))
        .group_by(Scan.target_id)
        .subquery("latest")
    )


def _grouped(wanted: FindingFilter) -> Any:
    """One row per (target, fingerprint) of the findings the filter keeps, with the id of the finding shown."""
    v, s = Vulnerability, Scan
    conditions: list[ColumnElement[bool]] = [v.fingerprint.is_not(None), s.target_id.is_not(None)]
    if wanted.severity:
        conditions.append(v.severity.in_(wanted.severity))
    if wanted.owasp:
        conditions.append(v.owasp == wanted.owasp.upper())
    if wanted.target_id is not None:
        conditions.append(s.target_id == wanted.target_id)
    if wanted.q:
        pattern = "%" + wanted.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                v.title.ilike(pattern, escape="\\"), v.probe_name.ilike(pattern, escape="\\"), v.fingerprint == wanted.q
            )
        )
    shown: ColumnElement[Any] = func.max(v.id)
    query = select(
        s.target_id.label("target_id"),
        v.fingerprint.label("fingerprint"),
        func.count(v.id).label("scans"),
        func.min(s.created_at).label("first_seen"),
        func.max(s.created_at).label("last_seen"),
        func.max(v.scan_id).label("last_scan_id"),
    ).join(s, s.id == v.scan_id)
    having: list[ColumnElement[bool]] = []
    if wanted.scan_id is not None:
        # the weaknesses found by this scan, with their history; the row shows this scan's finding
        in_scan = case((v.scan_id == wanted.scan_id, v.id), else_=None)
        shown = func.max(in_scan)
        having.append(func.max(in_scan).is_not(None))
    if wanted.view == "latest":
        latest = _latest_scans()
        query = query.join(latest, latest.c.target_id == s.target_id)
        in_latest = case((v.scan_id == latest.c.scan_id, v.id), else_=None)
        having.append(func.max(in_latest).is_not(None))
        if wanted.scan_id is None:
            shown = func.max(in_latest)
    query = query.add_columns(shown.label("finding_id")).where(*conditions).group_by(s.target_id, v.fingerprint)
    if having:
        query = query.having(and_(*having))
    return query.subquery("weakness")


def _order(sort: str, g: Any) -> list[Any]:
    v = Vulnerability
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    tie = [v.id.desc()]
    if name == "severity":
        rank = _severity_rank(v.severity)
        low = func.coalesce(v.asr_low, -1.0)
        return [rank.desc(), low.asc(), *tie] if descending else [rank.asc(), low.desc(), *tie]
    column = {
        "asr_low": func.coalesce(v.asr_low, -1.0),
        "last_seen": g.c.last_seen,
        "first_seen": g.c.first_seen,
        "scans": g.c.scans,
        "title": v.title,
    }[name]
    return [column.desc() if descending else column.asc(), _severity_rank(v.severity).asc(), *tie]


def weaknesses(
    session: Session, wanted: FindingFilter, sort: GroupSort = "severity", limit: int | None = 50, offset: int = 0
) -> WeaknessPage:
    """A page of weaknesses (all of them when `limit` is None) and how many the filter keeps in all."""
    g = _grouped(wanted)
    v, t = Vulnerability, FindingTriage
    query: Select[Any] = (
        select(  # type: ignore[assignment]
            v.id,
            v.scan_id,
            v.title,
            v.probe_name,
            v.owasp,
            v.severity,
            v.asr,
            v.asr_low,
            v.asr_high,
            v.attempts,
            g.c.target_id,
            g.c.fingerprint,
            g.c.scans,
            g.c.first_seen,
            g.c.last_seen,
            g.c.last_scan_id,
            t.state,
            t.comment,
            t.updated_at,
            func.count().over().label("total"),
        )
        .join(v, v.id == g.c.finding_id)
        .outerjoin(t, and_(t.target_id == g.c.target_id, t.fingerprint == g.c.fingerprint))
    )
    if wanted.triage == "untriaged":
        query = query.where(or_(t.id.is_(None), t.state == TriageState.OPEN))
    elif wanted.triage is not None:
        query = query.where(t.state == TriageState(wanted.triage))
    query = query.order_by(*_order(sort, g)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    total = rows[0].total if rows else 0
    if not rows and offset:
        total = (
            session.scalar(select(func.count()).select_from(query.order_by(None).limit(None).offset(None).subquery()))
            or 0
        )
    items = [
        Weakness(
            finding_id=row.id,
            scan_id=row.scan_id,
            target_id=row.target_id,
            fingerprint=row.fingerprint,
            title=row.title,
            probe_id=row.probe_name,
            owasp=row.owasp,
            severity=row.severity,
            asr=row.asr,
            asr_low=row.asr_low,
            asr_high=row.asr_high,
            attempts=row.attempts,
            scans=row.scans,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            last_scan_id=row.last_scan_id,
            triage_state=row.state,
            triage_comment=row.comment,
            triage_updated_at=row.updated_at,
        )
        for row in rows
    ]
    histories = sightings(session, [(item.target_id, item.fingerprint) for item in items])
    for item in items:
        item.history = histories.get((item.target_id, item.fingerprint), [])
    return WeaknessPage(items=items, total=total, offset=offset, limit=limit or len(items))


def sightings(session: Session, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], list[Sighting]]:
    """Every scan in which each (target, fingerprint) succeeded, oldest first."""
    found: dict[tuple[int, str], list[Sighting]] = defaultdict(list)
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        fingerprints = {fingerprint for _, fingerprint in chunk}
        rows = session.execute(
            select(
                Scan.target_id,
                Vulnerability.fingerprint,
                Vulnerability.scan_id,
                Scan.created_at,
                Vulnerability.asr,
                Vulnerability.asr_low,
                Vulnerability.asr_high,
                Vulnerability.attempts,
                Vulnerability.id,
            )
            .join(Scan, Scan.id == Vulnerability.scan_id)
            .where(Vulnerability.fingerprint.in_(fingerprints))
            .order_by(Vulnerability.scan_id, Vulnerability.id)
        )
        keep = set(chunk)
        for target_id, fingerprint, scan_id, at, asr, low, high, attempts, row_id in rows:
            if target_id is not None and fingerprint is not None and (target_id, fingerprint) in keep:
                found[(target_id, fingerprint)].append(Sighting(scan_id, at, asr, low, high, attempts, row_id))
    return dict(found)


def finding_with_target(session: Session, finding_id: int) -> tuple[Vulnerability, int | None]:
    row = session.get(Vulnerability, finding_id)
    if row is None:
        raise WorkspaceError(404, f"no finding {finding_id}")
    return row, session.scalar(select(Scan.target_id).where(Scan.id == row.scan_id))


@dataclass(frozen=True)
class TriageChange:
    finding: Vulnerability
    target_id: int
    before: str | None
    triage: FindingTriage


def set_triage(
    session: Session,
    finding_ids: Iterable[int],
    state: TriageState,
    comment: str | None,
    user_id: int,
    expires_at: datetime | None = None,
) -> list[TriageChange]:
    """Set the triage of the weakness behind each finding (once per weakness); nothing is written when one of
    the findings does not exist or has no fingerprint, or the decision breaks a triage rule (a reason for a false
    positive or an accepted risk, which ends: app/crud/triage.py). The caller audits and commits."""
    try:
        expiry = expiry_for(state, comment, expires_at)
    except TriageRuleError as error:
        raise WorkspaceError(422, str(error)) from None
    ids = list(dict.fromkeys(finding_ids))
    if not ids:
        raise WorkspaceError(422, "choose at least one finding")
    if len(ids) > MAX_BULK:
        raise WorkspaceError(422, f"at most {MAX_BULK} findings at a time")
    rows = session.execute(
        select(Vulnerability, Scan.target_id)
        .join(Scan, Scan.id == Vulnerability.scan_id)
        .where(Vulnerability.id.in_(ids))
    ).all()
    by_id = {row.id: (row, target_id) for row, target_id in rows}
    missing = [str(i) for i in ids if i not in by_id]
    if missing:
        raise WorkspaceError(404, f"no finding {', '.join(missing[:5])}")
    legacy = [str(i) for i in ids if by_id[i][1] is None or by_id[i][0].fingerprint is None]
    if legacy:
        raise WorkspaceError(
            409, f"legacy findings have no fingerprint and cannot be triaged across scans: {', '.join(legacy[:5])}"
        )
    changes: list[TriageChange] = []
    done: set[tuple[int, str]] = set()
    for finding_id in ids:
        row, target_id = by_id[finding_id]
        assert target_id is not None and row.fingerprint is not None
        if (target_id, row.fingerprint) in done:
            continue
        done.add((target_id, row.fingerprint))
        triage = session.scalar(
            select(FindingTriage).where(
                FindingTriage.target_id == target_id, FindingTriage.fingerprint == row.fingerprint
            )
        )
        before = triage.state.value if triage else None
        if triage is None:
            triage = FindingTriage(target_id=target_id, fingerprint=row.fingerprint)
            session.add(triage)
        triage.state, triage.comment, triage.expires_at = state, comment, expiry
        triage.updated_by, triage.updated_at = user_id, utcnow()
        changes.append(TriageChange(row, target_id, before, triage))
    session.flush()
    return changes


# ---- a scan's success by probe, category and strategy; two scans side by side ----


@dataclass(frozen=True)
class Rate:
    """Vulnerable of scored attempts, with the 95 % Wilson interval."""

    vulnerable: int
    scored: int
    attempts: int

    @property
    def asr(self) -> float | None:
        return self.vulnerable / self.scored if self.scored else None

    @property
    def interval(self) -> tuple[float | None, float | None]:
        if not self.scored:
            return (None, None)
        return wilson_interval(self.vulnerable, self.scored)


@dataclass(frozen=True)
class Breakdown:
    """A scan's attempts grouped three ways."""

    probes: dict[str, Rate]
    categories: dict[str, Rate]
    strategies: dict[str, Rate]


def _categories_of(session: Session, scan_ids: Sequence[int], probe_ids: Iterable[str]) -> dict[str, str]:
    """The OWASP category of each probe: from the scans' findings, else the catalogue, else the id's prefix."""
    known: dict[str, str] = {}
    for probe_id, owasp in session.execute(
        select(Vulnerability.probe_name, Vulnerability.owasp)
        .where(Vulnerability.scan_id.in_(scan_ids), Vulnerability.owasp.is_not(None))
        .distinct()
    ):
        if probe_id and owasp:
            known[probe_id] = owasp
    missing = [p for p in probe_ids if p not in known]
    if missing:
        catalogue = {probe.id: str(probe.owasp) for probe in load_probes()}
        for probe_id in missing:
            prefix = probe_id.split(".", 1)[0].upper()
            known[probe_id] = catalogue.get(probe_id) or (prefix if prefix.startswith("LLM") else "other")
    return known


def _attempt_counts(session: Session, scan_id: int) -> list[tuple[str, str, int, int, int]]:
    """(probe, strategy stack, vulnerable, scored, attempts) of one scan (one grouped query)."""
    vulnerable = func.sum(case((Attempt.outcome == AttemptOutcome.VULNERABLE, 1), else_=0))
    scored = func.sum(case((Attempt.outcome.in_(SCORED), 1), else_=0))
    rows = session.execute(
        select(Attempt.probe_id, Attempt.strategies, vulnerable, scored, func.count())
        .where(Attempt.scan_id == scan_id)
        .group_by(Attempt.probe_id, Attempt.strategies)
    )
    return [(probe, stack, int(hit or 0), int(counted or 0), int(total)) for probe, stack, hit, counted, total in rows]


def _breakdown_of(rows: list[tuple[str, str, int, int, int]], categories: dict[str, str]) -> Breakdown:
    sums: dict[str, dict[str, list[int]]] = {"probes": {}, "categories": {}, "strategies": {}}
    for probe_id, strategies, hit, counted, total in rows:
        for kind, key in (
            ("probes", probe_id),
            ("categories", categories.get(probe_id, "other")),
            ("strategies", strategies),
        ):
            bucket = sums[kind].setdefault(key, [0, 0, 0])
            bucket[0] += hit
            bucket[1] += counted
            bucket[2] += total

    def rates(kind: str) -> dict[str, Rate]:
        return {key: Rate(*values) for key, values in sorted(sums[kind].items())}

    return Breakdown(rates("probes"), rates("categories"), rates("strategies"))


def breakdown(session: Session, scan_id: int) -> Breakdown:
    """Attempts of one scan by probe, OWASP category and strategy stack."""
    rows = _attempt_counts(session, scan_id)
    return _breakdown_of(rows, _categories_of(session, [scan_id], {row[0] for row in rows}))


@dataclass(frozen=True)
class Change:
    """One probe, category or strategy in two scans."""

    key: str
    base: Rate | None
    head: Rate | None

    @property
    def delta(self) -> float | None:
        if self.base is None or self.head is None or self.base.asr is None or self.head.asr is None:
            return None
        return self.head.asr - self.base.asr

    @property
    def verdict(self) -> str:
        """worse / better when the intervals do not overlap, else same; not run when one scan did not run it."""
        if self.base is None or not self.base.scored:
            return "not run before"
        if self.head is None or not self.head.scored:
            return "not run now"
        base_low, base_high = self.base.interval
        head_low, head_high = self.head.interval
        assert base_low is not None and base_high is not None and head_low is not None and head_high is not None
        if head_low > base_high:
            return "worse"
        if head_high < base_low:
            return "better"
        return "same"


@dataclass(frozen=True)
class Comparison:
    base: Scan
    head: Scan
    probes: list[Change]
    categories: list[Change]
    strategies: list[Change]


def compare(session: Session, base_id: int, head_id: int) -> Comparison:
    """Two scans (any two, of any targets) side by side: ASR with intervals per probe, category and strategy."""
    base, head = session.get(Scan, base_id), session.get(Scan, head_id)
    for scan, scan_id in ((base, base_id), (head, head_id)):
        if scan is None:
            raise WorkspaceError(404, f"no scan {scan_id}")
    assert base is not None and head is not None
    old_rows, new_rows = _attempt_counts(session, base_id), _attempt_counts(session, head_id)
    categories = _categories_of(session, [base_id, head_id], {row[0] for row in old_rows + new_rows})
    before, after = _breakdown_of(old_rows, categories), _breakdown_of(new_rows, categories)

    def side_by_side(old: dict[str, Rate], new: dict[str, Rate]) -> list[Change]:
        return [Change(key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys())]

    return Comparison(
        base,
        head,
        side_by_side(before.probes, after.probes),
        side_by_side(before.categories, after.categories),
        side_by_side(before.strategies, after.strategies),
    )


def comparable_scans(session: Session, limit: int = 200) -> list[tuple[int, str, int | None]]:
    """The newest scans (id, name, target id) a compare form offers."""
    rows = session.execute(select(Scan.id, Scan.name, Scan.target_id).order_by(Scan.id.desc()).limit(limit))
    return [(scan_id, name, target_id) for scan_id, name, target_id in rows]


# ---- a running scan's pace ----


@dataclass(frozen=True)
class Pace:
    """What the attempts written so far say about a running scan."""

    done: int
    errors: int
    retries: int
    requests: int
    rate_limited: int
    requests_per_s: float | None
    attempts_per_s: float | None
    eta_s: float | None
    last_answer_at: datetime | None


def pace(session: Session, scan: Scan, now: datetime | None = None) -> Pace:
    """Attempts done, errors, retried requests, 429 answers, request rate, time to go and the last answer."""
    errors = func.sum(case((Attempt.outcome == AttemptOutcome.ERROR, 1), else_=0))
    done, failed, requests, first, last = session.execute(
        select(
            func.count(),
            errors,
            func.sum(Attempt.requests_made),
            func.min(Attempt.created_at),
            func.max(Attempt.created_at),
        ).where(Attempt.scan_id == scan.id)
    ).one()
    done, failed, requests = int(done or 0), int(failed or 0), int(requests or 0)
    live = (scan.results or {}).get("live") if isinstance(scan.results, dict) else None
    live = live if isinstance(live, dict) else {}
    rate_limited, retried = int(live.get("rate_limited", 0)), int(live.get("retried", 0))
    started = scan.started_at or first
    now = now or utcnow()
    elapsed = (now - started).total_seconds() if started else 0.0
    attempts_per_s = done / elapsed if elapsed > 0 and done else None
    requests_per_s = requests / elapsed if elapsed > 0 and requests else None
    left = max((scan.attempts_planned or 0) - done, 0)
    eta = left / attempts_per_s if attempts_per_s else None
    return Pace(done, failed, retried, requests, rate_limited, requests_per_s, attempts_per_s, eta, last)


__all__ = [
    "GROUP_SORTS",
    "MAX_BULK",
    "TRIAGE_FILTERS",
    "Breakdown",
    "Change",
    "Comparison",
    "FindingFilter",
    "GroupSort",
    "Pace",
    "Rate",
    "Sighting",
    "TriageChange",
    "TriageFilter",
    "View",
    "Weakness",
    "WeaknessPage",
    "WorkspaceError",
    "breakdown",
    "comparable_scans",
    "compare",
    "finding_with_target",
    "pace",
    "set_triage",
    "sightings",
    "weaknesses",
]
