"""The findings workspace over the API: weaknesses grouped across scans (filter, search, sort, page, total),
one finding with its history, bulk triage, and any two scans compared per probe, category and strategy.

Filters accept what a browser's form sends: an empty value means "any" (`target_id=` is not an error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, StringConstraints

from app.api.deps import ClientDep, SessionDep, audit, require
from app.api.routes.findings import TriagedFinding, TriageOut, _out
from app.api.types import MAX_ID, PathId, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud import findings as crud
from app.db.enums import Severity, TriageState

router = APIRouter(tags=["findings"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]
Triager = Annotated[service.Principal, Depends(require(Permission.FINDINGS_TRIAGE))]
#: a filter value as a form sends it: possibly empty
FormValue = Annotated[str | None, Query(max_length=200)]


def optional_id(value: str | None, name: str) -> int | None:
    """A row id from a query string; empty means "any"."""
    text = (value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise HTTPException(422, f"{name}: expected a row id (a whole number from 1 to {MAX_ID}) or nothing")
    return int(text)


def _choice(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if text not in allowed:
        raise HTTPException(422, f"{name}: expected one of {', '.join(allowed)} or nothing")
    return text


def finding_filter(
    severity: list[str] | None,
    owasp: str | None,
    target_id: str | None,
    scan_id: str | None,
    triage: str | None,
    q: str | None,
    view: str | None,
) -> crud.FindingFilter:
    """The workspace's filter from query values as a form sends them (shared by the API and the dashboard)."""
    severities = []
    for value in severity or []:
        chosen = _choice(value, "severity", tuple(s.value for s in Severity))
        if chosen:
            severities.append(Severity(chosen))
    category = (owasp or "").strip().upper() or None
    if category is not None and not (len(category) == 5 and category.startswith("LLM") and category[3:].isdigit()):
        raise HTTPException(422, "owasp: expected an OWASP LLM category such as LLM01, or nothing")
    return crud.FindingFilter(
        severity=tuple(dict.fromkeys(severities)),
        owasp=category,
        target_id=optional_id(target_id, "target_id"),
        scan_id=optional_id(scan_id, "scan_id"),
        triage=_choice(triage, "triage", crud.TRIAGE_FILTERS),  # type: ignore[arg-type]
        q=(q or "").strip() or None,
        view=_choice(view, "view", get_args(crud.View)) or "all",  # type: ignore[arg-type]
    )


class SightingOut(BaseModel):
    scan_id: int
    finding_id: int
    seen_at: UtcDateTime | None
    asr: float | None
    asr_ci95: tuple[float | None, float | None]
    attempts: int | None


class WeaknessOut(BaseModel):
    finding_id: int = Field(description="The finding shown: the latest one (or the one of the scan filtered on).")
    scan_id: int
    target_id: int
    fingerprint: str
    title: str
    probe_id: str | None
    owasp: str | None
    severity: Severity | None
    asr: float | None
    asr_ci95: tuple[float | None, float | None]
    attempts: int | None
    scans: int = Field(description="Scans in which the attack succeeded.")
    first_seen: UtcDateTime | None
    last_seen: UtcDateTime | None
    last_scan_id: int
    triage: TriageOut | None
    history: list[SightingOut]

    @classmethod
    def of(cls, item: crud.Weakness) -> WeaknessOut:
        triage = None
        if item.triage_state is not None and item.triage_updated_at is not None:
            triage = TriageOut(
                state=item.triage_state, comment=item.triage_comment, updated_by=None, updated_at=item.triage_updated_at
            )
        return cls(
            finding_id=item.finding_id,
            scan_id=item.scan_id,
            target_id=item.target_id,
            fingerprint=item.fingerprint,
            title=item.title,
            probe_id=item.probe_id,
            owasp=item.owasp,
            severity=item.severity,
            asr=item.asr,
            asr_ci95=(item.asr_low, item.asr_high),
            attempts=item.attempts,
            scans=item.scans,
            first_seen=item.first_seen,
            last_seen=item.last_seen,
            last_scan_id=item.last_scan_id,
            triage=triage,
            history=[sighting_out(s) for s in item.history],
        )


def sighting_out(sighting: crud.Sighting) -> SightingOut:
    return SightingOut(
        scan_id=sighting.scan_id,
        finding_id=sighting.finding_id,
        seen_at=sighting.seen_at,
        asr=sighting.asr,
        asr_ci95=(sighting.asr_low, sighting.asr_high),
        attempts=sighting.attempts,
    )


class WeaknessPageOut(BaseModel):
    items: list[WeaknessOut]
    total: int = Field(description="Weaknesses the filter keeps, over all pages.")
    offset: int
    limit: int


def weakness_page(
    session: SessionDep, wanted: crud.FindingFilter, sort: str, limit: int, offset: int
) -> crud.WeaknessPage:
    chosen = _choice(sort, "sort", crud.GROUP_SORTS) or "severity"
    return crud.weaknesses(session, wanted, chosen, limit, offset)  # type: ignore[arg-type]


@router.get("/weaknesses", summary="Findings grouped by weakness across scans, with their history")
def list_weaknesses(
    session: SessionDep,
    _: Reader,
    severity: Annotated[list[str] | None, Query(description="One or more severities; empty means any.")] = None,
    owasp: FormValue = None,
    target_id: FormValue = None,
    scan_id: Annotated[str | None, Query(max_length=12, description="Weaknesses this scan found.")] = None,
    triage: Annotated[str | None, Query(max_length=20, description="untriaged, or a triage state.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the title or probe id.")] = None,
    view: Annotated[
        str | None, Query(max_length=10, description="all, or latest: found by each target's latest scan.")
    ] = None,
    sort: Annotated[
        str, Query(max_length=20, description="severity (then ASR lower bound), or a column; '-' descending.")
    ] = "severity",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> WeaknessPageOut:
    wanted = finding_filter(severity, owasp, target_id, scan_id, triage, q, view)
    found = weakness_page(session, wanted, sort, limit, offset)
    return WeaknessPageOut(
        items=[WeaknessOut.of(i) for i in found.items], total=found.total, offset=offset, limit=limit
    )


class FindingDetail(TriagedFinding):
    target_id: int | None
    history: list[SightingOut]


def finding_detail(session: SessionDep, finding_id: int) -> FindingDetail:
    try:
        row, target_id = crud.finding_with_target(session, finding_id)
    except crud.WorkspaceError as error:
        raise HTTPException(error.status, str(error)) from None
    shown = _out(session, [(row, target_id)])[0]
    history: list[crud.Sighting] = []
    if target_id is not None and row.fingerprint:
        history = crud.sightings(session, [(target_id, row.fingerprint)]).get((target_id, row.fingerprint), [])
    return FindingDetail(**shown.model_dump(), target_id=target_id, history=[sighting_out(s) for s in history])


@router.get("/findings/{finding_id}", summary="One finding with its evidence, triage and the scans it was found in")
def read_finding(finding_id: PathId, session: SessionDep, _: Reader) -> FindingDetail:
    return finding_detail(session, finding_id)


class BulkTriageIn(BaseModel):
    finding_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=crud.MAX_BULK)
    state: TriageState
    comment: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        None, description="The reason; required for false_positive and accepted_risk."
    )
    expires_at: datetime | None = Field(
        None, description="accepted_risk only: when it lapses (a future UTC date or date-time; default 90 days)."
    )


class BulkTriageOut(BaseModel):
    weaknesses: int = Field(description="Weaknesses whose triage was set (findings of one weakness count once).")
    items: list[TriagedFinding]


def bulk_triage(session: SessionDep, principal: service.Principal, client: Any, body: BulkTriageIn) -> BulkTriageOut:
    """Set the triage of every finding's weakness in one transaction, one audit record each."""
    comment = (body.comment or "").strip() or None
    try:
        changes = crud.set_triage(session, body.finding_ids, body.state, comment, principal.user.id, body.expires_at)
    except crud.WorkspaceError as error:  # checked before anything is written
        raise HTTPException(error.status, str(error)) from None
    for change in changes:
        audit(
            session,
            client,
            "triage",
            actor=principal.user.id,
            resource_type="finding",
            resource_id=change.finding.id,
            details={"fingerprint": change.finding.fingerprint, "from": change.before, "to": body.state.value},
        )
    session.commit()
    return BulkTriageOut(
        weaknesses=len(changes), items=_out(session, [(change.finding, change.target_id) for change in changes])
    )


@router.post("/findings/triage", summary="Triage many findings at once (each weakness once, each audited)")
def triage_many(body: BulkTriageIn, session: SessionDep, principal: Triager, client: ClientDep) -> BulkTriageOut:
    return bulk_triage(session, principal, client, body)


class RateOut(BaseModel):
    vulnerable: int
    scored: int
    attempts: int
    asr: float | None
    asr_ci95: tuple[float | None, float | None]

    @classmethod
    def of(cls, rate: crud.Rate | None) -> RateOut | None:
        if rate is None:
            return None
        return cls(
            vulnerable=rate.vulnerable, scored=rate.scored, attempts=rate.attempts, asr=rate.asr, asr_ci95=rate.interval
        )


class ChangeOut(BaseModel):
    key: str
    base: RateOut | None
    head: RateOut | None
    change: float | None = Field(description="head ASR - base ASR.")
    verdict: str = Field(description="worse / better (intervals apart), same, not run before, not run now.")


class ScanSide(BaseModel):
    id: int
    name: str
    target_id: int | None
    status: str
    created_at: UtcDateTime | None


class ComparisonOut(BaseModel):
    base: ScanSide
    head: ScanSide
    probes: list[ChangeOut]
    categories: list[ChangeOut]
    strategies: list[ChangeOut]


def comparison(session: SessionDep, base_id: int, head_id: int) -> crud.Comparison:
    try:
        return crud.compare(session, base_id, head_id)
    except crud.WorkspaceError as error:
        raise HTTPException(error.status, str(error)) from None


def comparison_out(found: crud.Comparison) -> ComparisonOut:
    def changes(rows: list[crud.Change]) -> list[ChangeOut]:
        return [
            ChangeOut(key=c.key, base=RateOut.of(c.base), head=RateOut.of(c.head), change=c.delta, verdict=c.verdict)
            for c in rows
        ]

    def side(scan: Any) -> ScanSide:
        return ScanSide(
            id=scan.id, name=scan.name, target_id=scan.target_id, status=scan.status.value, created_at=scan.created_at
        )

    return ComparisonOut(
        base=side(found.base),
        head=side(found.head),
        probes=changes(found.probes),
        categories=changes(found.categories),
        strategies=changes(found.strategies),
    )


@router.get(
    "/scans/{base_id}/compare/{head_id}", summary="Any two scans side by side: ASR per probe, category, strategy"
)
def compare_scans(base_id: PathId, head_id: PathId, session: SessionDep, _: Reader) -> ComparisonOut:
    return comparison_out(comparison(session, base_id, head_id))
