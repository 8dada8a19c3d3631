"""Scans as jobs: start, follow (polling or Server-Sent Events), cancel, read findings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StringConstraints, field_validator
from sqlalchemy import select

from app.api.deps import ClientDep, SessionDep, audit, require
from app.api.pagination import Cursor, Limit, Page, page_by_id
from app.api.types import MAX_ID, PathId, SafeScanName, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud import housekeeping
from app.crud import scans as scans_crud
from app.crud.reports import result_from_scan
from app.crud.rescore import RescoreNotPossibleError
from app.crud.rescore import rescore_scan as rescore_use_case
from app.db.enums import ScanStatus, Severity
from app.db.models import Scan, Vulnerability, utcnow
from app.db.session import get_sessionmaker
from app.engine.plan import DEFAULT_PROFILE, Profile
from app.jobs.scan_job import ScanOptions
from app.reports.redaction import redact_result
from app.reports.render import FORMATS, render
from app.reports.source import ReportSourceError

router = APIRouter(prefix="/scans", tags=["scans"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]
Writer = Annotated[service.Principal, Depends(require(Permission.SCANS_WRITE))]
Exporter = Annotated[service.Principal, Depends(require(Permission.REPORTS_EXPORT))]
FINISHED = (ScanStatus.COMPLETED, ScanStatus.FAILED, ScanStatus.CANCELLED)
#: Largest plan the API accepts in one scan (attempts).
MAX_ATTEMPTS = scans_crud.MAX_ATTEMPTS


RoleName = Literal["target", "attacker", "judge"]
#: Highest per-role cap a scan may set (requests or tokens).
MAX_CAP = 1_000_000_000


class ScanIn(BaseModel):
    target_id: int = Field(ge=1, le=MAX_ID)
    name: SafeScanName | None = None
    probes: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        default="all", description="Probe selection, e.g. owasp:LLM01,tag:jailbreak (docs/scanning.md)."
    )
    strategies: Annotated[str, StringConstraints(min_length=1, max_length=500)] = "none"
    profile: Profile = Field(
        default=DEFAULT_PROFILE,
        description="Prompts per probe: quick (2, the default), standard (8) or full (every prompt and slot "
        "combination).",
    )
    repeat: int = Field(default=1, ge=1, le=100)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    concurrency: int | None = Field(default=None, ge=1, le=256)
    attacker_target_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Stored target acting as the attacker model of pair, tap and crescendo. Left out: "
        "SECUREAI_DEFAULT_ATTACKER_TARGET (if set); null: none.",
    )
    judge_target_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Stored target acting as the judge model (grades answers on each probe's rubric). Left out: "
        "SECUREAI_DEFAULT_JUDGE_TARGET (if set); null: none.",
    )
    attack_options: dict[str, Any] = Field(
        default_factory=dict,
        max_length=10,
        description='Adaptive strategy parameters, e.g. {"pair": {"streams": 2}, "tap": {"depth": 4}} '
        "(the parameters and ranges of `secureai scan --attack-option`).",
    )
    max_requests: dict[RoleName, Annotated[int, Field(ge=1, le=MAX_CAP)]] = Field(
        default_factory=dict, description='Cap on requests per role for the run, e.g. {"attacker": 500}.'
    )
    max_tokens: dict[RoleName, Annotated[int, Field(ge=1, le=MAX_CAP)]] = Field(
        default_factory=dict, description="Cap on tokens (prompt + completion) per role for the run."
    )

    @field_validator("attack_options")
    @classmethod
    def _known_attack_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        return dict(scans_crud.attack_options_of(value))  # ValueError names the strategy or parameter

    def role(self, role: Literal["attacker", "judge"]) -> int | scans_crud.Default | None:
        """The chosen target of `role`: an id, None (explicitly none) or DEFAULT (left out)."""
        name = f"{role}_target_id"
        return getattr(self, name) if name in self.model_fields_set else scans_crud.DEFAULT

    def options(self) -> ScanOptions:
        return ScanOptions(
            self.probes,
            self.strategies,
            self.repeat,
            self.seed,
            self.concurrency,
            attack_options=dict(self.attack_options),
            max_requests={str(role): cap for role, cap in self.max_requests.items()},
            max_tokens={str(role): cap for role, cap in self.max_tokens.items()},
            profile=self.profile,
        )


class ScanOut(BaseModel):
    id: int
    name: str
    target_id: int | None
    status: ScanStatus
    progress: float | None
    attempts_planned: int | None
    vulnerability_count: int | None
    risk_score: float | None
    options: dict[str, Any] | None
    summary: dict[str, Any] | None
    error: str | None
    started_at: UtcDateTime | None
    completed_at: UtcDateTime | None
    duration: int | None

    @classmethod
    def of(cls, scan: Scan) -> ScanOut:
        return cls(
            id=scan.id,
            name=scan.name,
            target_id=scan.target_id,
            status=scan.status,
            progress=scan.progress,
            attempts_planned=scan.attempts_planned,
            vulnerability_count=scan.vulnerability_count,
            risk_score=scan.risk_score,
            options=scan.options,
            summary=scan.results,
            error=scan.error_message,
            started_at=scan.started_at,
            completed_at=scan.completed_at,
            duration=scan.duration,
        )


class FindingOut(BaseModel):
    id: int
    probe_id: str | None
    title: str
    owasp: str | None
    severity: Severity | None
    asr: float | None
    asr_ci95: tuple[float | None, float | None]
    attempts: int | None
    outcome_counts: dict[str, int] | None
    fingerprint: str | None
    remediation: str | None
    evidence: list[dict[str, Any]] | str | None

    @classmethod
    def of(cls, row: Vulnerability) -> FindingOut:
        evidence: list[dict[str, Any]] | str | None = row.evidence
        if row.fingerprint and row.evidence:  # platform findings keep masked evidence as JSON (scan_job)
            evidence = json.loads(row.evidence)
        elif row.evidence:  # legacy findings keep free text, never masked when it was written
            evidence = redact_result(row.evidence)
        return cls(
            id=row.id,
            probe_id=row.probe_name,
            title=row.title,
            owasp=row.owasp,
            severity=row.severity,
            asr=row.asr,
            asr_ci95=(row.asr_low, row.asr_high),
            attempts=row.attempts,
            outcome_counts=row.outcome_counts,
            fingerprint=row.fingerprint,
            remediation=row.remediation,
            evidence=evidence,
        )


def get_scan(session: SessionDep, scan_id: PathId) -> Scan:
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise HTTPException(404, f"no scan {scan_id}")
    return scan


@router.post("", status_code=202, summary="Start a scan (queued; follow it with GET or /events)")
def start_scan(body: ScanIn, request: Request, session: SessionDep, principal: Writer, client: ClientDep) -> ScanOut:
    try:
        scan = scans_crud.start_scan(
            session,
            target_id=body.target_id,
            options=body.options(),
            name=body.name,
            attacker=body.role("attacker"),
            judge=body.role("judge"),
            actor=principal.user.id,
            ip_address=client.ip,
            user_agent=client.user_agent,
        )
    except scans_crud.ScanRequestError as error:
        session.rollback()
        raise HTTPException(error.status, str(error)) from None
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is None:
        session.rollback()
        raise HTTPException(503, "the scan worker is not running; restart `secureai serve`")
    session.commit()
    dispatcher.submit(scan.id)
    return ScanOut.of(scan)


@router.get("", summary="List scans, newest first")
def list_scans(session: SessionDep, _: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[ScanOut]:
    page, next_cursor = page_by_id(session, select(Scan), Scan.id, limit, cursor, newest_first=True)
    return Page(items=[ScanOut.of(s) for s in page], next_cursor=next_cursor)


@router.get("/{scan_id}", summary="One scan: status, progress, summary")
def read_scan(scan_id: PathId, session: SessionDep, _: Reader) -> ScanOut:
    return ScanOut.of(get_scan(session, scan_id))


@router.post("/{scan_id}/cancel", summary="Ask a running scan to stop")
def cancel_scan(scan_id: PathId, session: SessionDep, principal: Writer, client: ClientDep) -> ScanOut:
    scan = get_scan(session, scan_id)
    if scan.status in FINISHED:
        raise HTTPException(409, f"scan {scan_id} already ended ({scan.status.value})")
    scan.cancel_requested_at = scan.cancel_requested_at or utcnow()
    audit(
        session,
        client,
        "scan_cancel",
        actor=principal.user.id,
        resource_type="scan",
        resource_id=scan.id,
    )
    session.commit()
    return ScanOut.of(scan)


class RemovedOut(BaseModel):
    """What a deletion took with it."""

    scans: int
    attempts: int
    findings: int


@router.delete("/{scan_id}", summary="Delete an ended scan with its attempts and findings (audited)")
def delete_scan(scan_id: PathId, session: SessionDep, principal: Writer, client: ClientDep) -> RemovedOut:
    """Deletes the scan, its attempts, attack steps, findings and compliance mappings; the audit record
    (`scan_delete`) names it and counts what went. 409 while the scan is pending or running (cancel it first)."""
    scan = get_scan(session, scan_id)
    actor = housekeeping.Actor(principal.user.id, client.ip, client.user_agent)
    try:
        removed = housekeeping.delete_scan(session, scan, actor)
    except housekeeping.DeleteRefusedError as error:  # refused before anything was written
        raise HTTPException(error.status, str(error)) from None
    session.commit()
    return RemovedOut(**removed.as_dict())


@router.post("/{scan_id}/rescore", status_code=201, summary="Judge an ended scan again with today's detectors")
def rescore_scan(scan_id: PathId, session: SessionDep, principal: Writer, client: ClientDep) -> ScanOut:
    """A new result version of the scan (a scan of its own, `options.rescored_from` naming this one), its
    recorded answers judged by the current detectors; nothing is sent to the target. Audited."""
    scan = get_scan(session, scan_id)
    try:
        version, _ = rescore_use_case(
            session, scan, actor=principal.user.id, ip_address=client.ip, user_agent=client.user_agent
        )
    except RescoreNotPossibleError as error:
        session.rollback()
        raise HTTPException(409, str(error)) from None
    session.commit()
    return ScanOut.of(version)


@router.get("/{scan_id}/findings", summary="Findings of a scan, most severe first")
def list_findings(
    scan_id: PathId, session: SessionDep, _: Reader, limit: Limit = 50, cursor: Cursor = None
) -> Page[FindingOut]:
    get_scan(session, scan_id)
    query = select(Vulnerability).where(Vulnerability.scan_id == scan_id)
    page, next_cursor = page_by_id(session, query, Vulnerability.id, limit, cursor)
    return Page(items=[FindingOut.of(v) for v in page], next_cursor=next_cursor)


@router.get(
    "/{scan_id}/report",
    summary="The scan as a report: html, pdf, json, sarif, junit, csv or md (credentials always masked)",
    response_class=Response,
    responses={200: {"content": {media: {} for _, media in FORMATS.values()}}},
)
def scan_report(
    scan_id: PathId,
    session: SessionDep,
    principal: Exporter,
    client: ClientDep,
    report_format: Annotated[
        Literal["json", "sarif", "junit", "csv", "md", "html", "pdf"], Query(alias="format")
    ] = "json",
    redact: Annotated[Literal["pii"] | None, Query(description="`pii`: also mask personal data.")] = None,
    evidence: Annotated[
        Literal["condensed", "all"],
        Query(description="PDF: `condensed` (one example of each of the most severe findings) or `all`."),
    ] = "condensed",
) -> Response:
    get_scan(session, scan_id)
    try:
        document = result_from_scan(session, scan_id)
    except ReportSourceError as error:
        raise HTTPException(409, str(error)) from None
    body = render(document, report_format, pii=redact == "pii", all_evidence=evidence == "all")
    audit(
        session,
        client,
        "report_export",
        actor=principal.user.id,
        resource_type="scan",
        resource_id=scan_id,
        details={"format": report_format, "redact": redact},
    )
    session.commit()
    extension, media = FORMATS[report_format]
    disposition = f'attachment; filename="secureai-scan-{scan_id}.{extension}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get(
    "/{scan_id}/events",
    summary="Progress as Server-Sent Events until the scan ends",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def scan_events(scan_id: PathId, session: SessionDep, _: Reader) -> StreamingResponse:
    """One `progress` event when something changed (at most twice a second), then one `end` event."""
    get_scan(session, scan_id)

    async def events() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        while True:
            with get_sessionmaker()() as reader:
                current = ScanOut.of(reader.get_one(Scan, scan_id)).model_dump(mode="json")
            if current != last:
                last = current
                kind = "end" if current["status"] in {s.value for s in FINISHED} else "progress"
                yield f"event: {kind}\ndata: {json.dumps(current)}\n\n"
                if kind == "end":
                    return
            await asyncio.sleep(0.5)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
