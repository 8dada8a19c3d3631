"""Deleting a scan or a target from the dashboard: a confirmation page that says what will go, then the delete.

The page is the confirmation (it works without script): it names the scan or target and counts the scans,
attempts and findings that go with it; only its form's POST deletes, through the API's own route, so the
refusals (a running scan, a target in use) and the audit record are the API's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import SessionDep, client_of
from app.api.routes import scans as scans_api
from app.api.routes import targets as targets_api
from app.api.types import PathId
from app.auth import service
from app.auth.rbac import Permission
from app.crud import housekeeping
from app.web.deps import web_require
from app.web.routes.common import api_call
from app.web.templating import page, redirect

router = APIRouter()
ScanWriter = Annotated[service.Principal, Depends(web_require(Permission.SCANS_WRITE))]
TargetWriter = Annotated[service.Principal, Depends(web_require(Permission.TARGETS_WRITE))]


@router.get("/scans/{scan_id}/delete", summary="Confirm deleting a scan")
def confirm_scan_delete(scan_id: PathId, request: Request, session: SessionDep, principal: ScanWriter) -> Response:
    scan = api_call(scans_api.get_scan, session, scan_id)
    context = {
        "kind": "scan",
        "name": f"Scan #{scan.id}: {scan.name}",
        "action": f"/scans/{scan.id}/delete",
        "back": f"/scans/{scan.id}",
        "removed": housekeeping.removal_of_scans(session, [scan.id]),
        "blocked": f"It is {scan.status.value}: cancel it first." if scan.status in housekeeping.ACTIVE else None,
    }
    return page(request, "housekeeping/confirm_delete.html", context)


@router.post("/scans/{scan_id}/delete", summary="Delete a scan (audited)")
def delete_scan(scan_id: PathId, request: Request, session: SessionDep, principal: ScanWriter) -> Response:
    api_call(scans_api.delete_scan, scan_id, session, principal, client_of(request))
    return redirect(request, "/scans")


@router.get("/targets/{target_id}/delete", summary="Confirm deleting a target and its scans")
def confirm_target_delete(
    target_id: PathId, request: Request, session: SessionDep, principal: TargetWriter
) -> Response:
    target = api_call(targets_api.get_target, session, target_id)
    context = {
        "kind": "target",
        "name": target.name,
        "action": f"/targets/{target.id}/delete",
        "back": f"/targets/{target.id}",
        "removed": housekeeping.removal_of_scans(session, housekeeping.target_scan_ids(session, target.id)),
        "blocked": None,
    }
    return page(request, "housekeeping/confirm_delete.html", context)


@router.post("/targets/{target_id}/delete", summary="Delete a target, its scans and triage (audited)")
def delete_target(target_id: PathId, request: Request, session: SessionDep, principal: TargetWriter) -> Response:
    api_call(targets_api.delete_target, target_id, session, principal, client_of(request))
    return redirect(request, "/targets")
