"""Findings across scans: filter, sort by ASR, page with stable cursors, triage, and diff two scans."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from app.api.deps import ClientDep, SessionDep, audit, require
from app.api.pagination import CursorError, Limit, TextCursor, decode_score_cursor, encode_score_cursor
from app.api.routes.scans import FindingOut, get_scan
from app.api.types import PathId, QueryId, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud import retest as retest_crud
from app.crud.triage import ACCEPTED_RISK_DAYS, TriageRuleError, expiry_for, target_triage_file
from app.db.enums import Severity, TriageState
from app.db.models import FindingTriage, Scan, Target, Vulnerability, utcnow
from app.engine.retest import RETEST_MIN_SCORED

router = APIRouter(tags=["findings"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]
Triager = Annotated[service.Principal, Depends(require(Permission.FINDINGS_TRIAGE))]
Sort = Literal["-asr", "asr", "-id", "id"]


class TriageIn(BaseModel):
    state: TriageState
    comment: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        None, description="The reason; required for false_positive and accepted_risk."
    )
    expires_at: datetime | None = Field(
        None,
        description="accepted_risk only: when it lapses (UTC, a date or a date-time in the future); "
        f"default {ACCEPTED_RISK_DAYS} days from now. Until then reports and CI gating leave the finding out.",
    )


class TriageOut(BaseModel):
    state: TriageState
    comment: str | None
    updated_by: int | None
    updated_at: UtcDateTime
    expires_at: UtcDateTime | None = None


class TriagedFinding(FindingOut):
    scan_id: int
    triage: TriageOut | None


class FindingPage(BaseModel):
    items: list[TriagedFinding]
    next_cursor: str | None = None


class NotRetestedFinding(TriagedFinding):
    reason: str = Field(description="Why the head scan did not re-test it (not in its probes, too few scored).")


class ScanDiff(BaseModel):
    base: int
    head: int
    new: list[TriagedFinding]
    fixed: list[TriagedFinding] = Field(description="Re-tested by the head scan and not found.")
    unchanged: list[TriagedFinding]
    unchanged_count: int
    not_retested: list[NotRetestedFinding] = Field(
        default_factory=list, description="Base findings the head scan did not re-test: still open, not fixed."
    )
    retest_min_scored: int = Field(
        RETEST_MIN_SCORED, description="Scored attempts per probe and stack a re-test needs (fewer if the base had)."
    )


def _triage_of(session: Session, rows: list[tuple[Vulnerability, int | None]]) -> dict[tuple[int, str], TriageOut]:
    keys = {(target_id, row.fingerprint) for row, target_id in rows if target_id and row.fingerprint}
    if not keys:
        return {}
    found = session.scalars(
        select(FindingTriage).where(tuple_(FindingTriage.target_id, FindingTriage.fingerprint).in_(list(keys)))
    )
    return {
        (t.target_id, t.fingerprint): TriageOut(
            state=t.state, comment=t.comment, updated_by=t.updated_by, updated_at=t.updated_at, expires_at=t.expires_at
        )
        for t in found
    }


def _out(session: Session, rows: list[tuple[Vulnerability, int | None]]) -> list[TriagedFinding]:
    triage = _triage_of(session, rows)
    return [
        TriagedFinding(
            **FindingOut.of(row).model_dump(),
            scan_id=row.scan_id,
            triage=triage.get((target_id, row.fingerprint)) if target_id and row.fingerprint else None,
        )
        for row, target_id in rows
    ]


def _cursor(row: Vulnerability, sort: Sort) -> str:
    return encode_score_cursor(row.asr if "asr" in sort else None, row.id)


def _after(query: Select[Vulnerability, int | None], cursor: str, sort: Sort) -> Select[Vulnerability, int | None]:
    """Rows strictly after the cursor in the sort order (keyset: no offset, stable as rows arrive)."""
    try:
        asr, last_id = decode_score_cursor(cursor)
    except CursorError:
        raise HTTPException(422, "cursor is not one this API gave out") from None
    descending = sort.startswith("-")
    if "id" in sort:
        return query.where(Vulnerability.id < last_id if descending else Vulnerability.id > last_id)
    if asr is None:
        raise HTTPException(422, "cursor is not one this API gave out")
    # a row-value comparison, so PostgreSQL uses it as an index condition: page 101 stays as fast as page 2
    key, after = tuple_(Vulnerability.asr, Vulnerability.id), tuple_(asr, last_id)
    return query.where(key < after if descending else key > after)


@router.get("/findings", summary="Findings of all scans: filter, sort, page")
def list_findings(
    session: SessionDep,
    _: Reader,
    severity: Annotated[list[Severity] | None, Query(description="One or more severities.")] = None,
    owasp: Annotated[str | None, Query(max_length=10, description="OWASP category, e.g. LLM01.")] = None,
    scan_id: QueryId = None,
    target_id: QueryId = None,
    sort: Annotated[Sort, Query(description="-asr: most reliable attacks first.")] = "-asr",
    limit: Limit = 50,
    cursor: TextCursor = None,
) -> FindingPage:
    query = select(Vulnerability, Scan.target_id).join(Scan, Scan.id == Vulnerability.scan_id)
    if sort.endswith("asr"):
        query = query.where(Vulnerability.asr.is_not(None))
    if severity:
        query = query.where(Vulnerability.severity.in_(severity))
    if owasp:
        query = query.where(Vulnerability.owasp == owasp.upper())
    if scan_id is not None:
        query = query.where(Vulnerability.scan_id == scan_id)
    if target_id is not None:
        query = query.where(Scan.target_id == target_id)
    if cursor:
        query = _after(query, cursor, sort)
    column = Vulnerability.asr if sort.endswith("asr") else Vulnerability.id
    if sort.startswith("-"):
        query = query.order_by(column.desc(), Vulnerability.id.desc())
    else:
        query = query.order_by(column.asc(), Vulnerability.id.asc())
    rows = [(row, target) for row, target in session.execute(query.limit(limit + 1))]
    page = rows[:limit]
    more = len(rows) > limit
    return FindingPage(items=_out(session, page), next_cursor=_cursor(page[-1][0], sort) if more else None)


@router.put("/findings/{finding_id}/triage", summary="Triage a finding; carried to the same weakness in later scans")
def triage_finding(
    finding_id: PathId, body: TriageIn, session: SessionDep, principal: Triager, client: ClientDep
) -> TriagedFinding:
    row = session.get(Vulnerability, finding_id)
    if row is None:
        raise HTTPException(404, f"no finding {finding_id}")
    target_id = session.scalar(select(Scan.target_id).where(Scan.id == row.scan_id))
    if target_id is None or row.fingerprint is None:
        raise HTTPException(409, "legacy findings have no fingerprint and cannot be triaged across scans")
    try:
        expires_at = expiry_for(body.state, body.comment, body.expires_at)
    except TriageRuleError as error:
        raise HTTPException(422, str(error)) from None
    triage = session.scalar(
        select(FindingTriage).where(FindingTriage.target_id == target_id, FindingTriage.fingerprint == row.fingerprint)
    )
    before = triage.state.value if triage else None
    if triage is None:
        triage = FindingTriage(target_id=target_id, fingerprint=row.fingerprint)
        session.add(triage)
    triage.state, triage.comment, triage.expires_at = body.state, body.comment, expires_at
    triage.updated_by, triage.updated_at = principal.user.id, utcnow()
    session.flush()
    audit(
        session,
        client,
        "triage",
        actor=principal.user.id,
        resource_type="finding",
        resource_id=row.id,
        details={
            "fingerprint": row.fingerprint,
            "from": before,
            "to": body.state.value,
            **({"expires_at": expires_at.isoformat()} if expires_at else {}),
        },
    )
    session.commit()
    return _out(session, [(row, target_id)])[0]


@router.get(
    "/targets/{target_id}/triage",
    summary="The target's triage as a secureai.triage/v1 file, for `secureai scan|report --triage`",
)
def export_triage(target_id: PathId, session: SessionDep, _: Reader) -> dict[str, Any]:
    """Every triage decision on the target's weaknesses, keyed by fingerprint with the probe each stands for
    (docs/reports.md). CI jobs pass it to `secureai scan --triage FILE --fail-on ...` so false positives and
    unexpired accepted risks do not fail the build."""
    target = session.get(Target, target_id)
    if target is None:
        raise HTTPException(404, f"no target {target_id}")
    return target_triage_file(session, target)


@router.get("/scans/{base_id}/diff/{head_id}", summary="What changed between two scans of one target")
def diff_scans(
    base_id: PathId,
    head_id: PathId,
    session: SessionDep,
    _: Reader,
    unchanged: Annotated[bool, Query(description="List the unchanged findings too (else only count them).")] = True,
) -> ScanDiff:
    """`fixed` lists only findings of the base that the head re-tested (same probe and strategy stacks, at least
    `retest_min_scored` scored attempts) and did not find; the others it did not find are in `not_retested`,
    still open, each with the reason (docs/scanning.md, "Fixed, or not re-tested")."""
    base, head = get_scan(session, base_id), get_scan(session, head_id)
    if base.target_id is None or base.target_id != head.target_id:
        raise HTTPException(422, "both scans must be platform scans of the same target")
    target = base.target_id
    diff = retest_crud.diff_scans(session, base_id, head_id)

    def out(ids: list[int]) -> list[TriagedFinding]:
        # only the rows listed are loaded whole (evidence and all): a diff of two big scans stays cheap
        rows = list(session.scalars(select(Vulnerability).where(Vulnerability.id.in_(ids)))) if ids else []
        ordered = sorted(rows, key=lambda r: (r.probe_name or "", r.id))
        return _out(session, [(row, target) for row in ordered])

    reasons = {finding.id: reason for finding, reason in diff.not_retested}
    return ScanDiff(
        base=base_id,
        head=head_id,
        new=out([finding.id for finding in diff.new]),
        fixed=out([finding.id for finding in diff.fixed]),
        unchanged=out([finding.id for finding in diff.unchanged]) if unchanged else [],
        unchanged_count=len(diff.unchanged),
        not_retested=[
            NotRetestedFinding(**item.model_dump(), reason=reasons[item.id])
            for item in out([finding.id for finding, _ in diff.not_retested])
        ],
        retest_min_scored=RETEST_MIN_SCORED,
    )
