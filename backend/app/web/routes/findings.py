"""Findings across scans (filter, sort by ASR, page) and triage."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from pydantic import ValidationError

from app.api.deps import SessionDep, client_of
from app.api.pagination import TextCursor
from app.api.routes import findings as findings_api
from app.api.routes import targets as targets_api
from app.api.types import PathId, QueryId
from app.auth import service
from app.auth.rbac import Permission
from app.db.enums import Severity, TriageState
from app.web.deps import web_require
from app.web.routes.common import api_call
from app.web.templating import page

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
Triager = Annotated[service.Principal, Depends(web_require(Permission.FINDINGS_TRIAGE))]
OWASP_IDS = tuple(f"LLM{n:02d}" for n in range(1, 11))


@router.get("/findings", summary="Findings of all scans")
def list_findings(
    request: Request,
    session: SessionDep,
    principal: Reader,
    severity: Annotated[list[Severity] | None, Query()] = None,
    owasp: Annotated[str | None, Query(max_length=10)] = None,
    target_id: QueryId = None,
    scan_id: QueryId = None,
    sort: findings_api.Sort = "-asr",
    cursor: TextCursor = None,
) -> Response:
    owasp = owasp or None
    listing = api_call(
        findings_api.list_findings,
        session,
        principal,
        severity=severity,
        owasp=owasp,
        scan_id=scan_id,
        target_id=target_id,
        sort=sort,
        limit=50,
        cursor=cursor,
    )
    params = {
        "severity": [s.value for s in severity or []],
        "owasp": owasp,
        "target_id": target_id,
        "scan_id": scan_id,
        "sort": sort,
    }
    context = {
        "findings": listing.items,
        "next_cursor": listing.next_cursor,
        "params": params,
        "owasp_ids": OWASP_IDS,
        "sorts": get_args(findings_api.Sort),
        "targets": targets_api.list_targets(session, principal, limit=200, cursor=None).items,
    }
    return page(request, "findings/list.html", context)


@router.post("/findings/{finding_id}/triage", summary="Triage a finding (htmx fragment)")
def triage(
    finding_id: PathId,
    request: Request,
    session: SessionDep,
    principal: Triager,
    state: Annotated[str, Form(max_length=20)],
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """The API's triage (audited, carried by fingerprint to later scans of the target)."""
    error = None
    try:
        body = findings_api.TriageIn(state=TriageState(state), comment=comment.strip() or None)
        finding = findings_api.triage_finding(finding_id, body, session, principal, client_of(request))
    except (ValueError, ValidationError):
        error, finding = f"unknown triage state {state!r}", None
    except HTTPException as failure:
        if failure.status_code == 404:
            raise
        error, finding = str(failure.detail), None
    context: dict[str, Any]
    if finding is None:
        context = {"finding_id": finding_id, "triage": None, "error": error}
        return page(request, "findings/_triage.html", context, status_code=422 if error else 200)
    context = {"finding_id": finding_id, "triage": finding.triage, "error": None}
    return page(request, "findings/_triage.html", context)
