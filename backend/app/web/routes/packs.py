"""Probe packs: the user packs of the platform, uploading one (its problems listed beside the form), a pack's
versions, one version's YAML and probes, and taking a pack out of new scans."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile

from app.api.deps import SessionDep, client_of
from app.api.pagination import Cursor
from app.api.routes import packs as packs_api
from app.auth import service
from app.auth.rbac import Permission
from app.engine.probes.user_packs import PackValidationError
from app.web.deps import web_require
from app.web.routes.common import api_call
from app.web.templating import page, redirect

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
Writer = Annotated[service.Principal, Depends(web_require(Permission.SCANS_WRITE))]
#: Largest pasted pack the form takes (characters); the request itself is capped at 1 MiB.
MAX_PASTED = 1_048_576
#: Name of a pack pasted into the form, in its problems.
PASTED_SOURCE = "pasted.yaml"


def _packs_page(
    request: Request,
    session: SessionDep,
    principal: service.Principal,
    cursor: int | None = None,
    *,
    content: str = "",
    error: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    listing = packs_api.list_packs(session, principal, limit=50, cursor=cursor)
    context = {"packs": listing.items, "next_cursor": listing.next_cursor, "content": content, "error": error}
    return page(request, "packs/list.html", context, status_code=status_code)


@router.get("/packs", summary="Probe packs")
def list_packs(request: Request, session: SessionDep, principal: Reader, cursor: Cursor = None) -> Response:
    return _packs_page(request, session, principal, cursor)


@router.post("/packs", summary="Upload a probe pack")
def upload_pack(
    request: Request,
    session: SessionDep,
    principal: Writer,
    file: Annotated[UploadFile | None, File()] = None,
    content: Annotated[str, Form(max_length=MAX_PASTED)] = "",
) -> Response:
    """A file chosen in the form wins over pasted YAML; with neither, the form says so."""
    if file is not None and file.filename:
        data, source = file.file.read(), packs_api.source_name(file.filename)
    elif content.strip():
        # a browser sends a textarea's lines ending in CRLF: stored as typed, a file of the same text has LF
        data, source = content.replace("\r\n", "\n").encode("utf-8"), PASTED_SOURCE
    else:
        error: dict[str, Any] = {"detail": "Choose a pack file or paste its YAML.", "problems": []}
        return _packs_page(request, session, principal, content=content, error=error, status_code=422)
    try:
        result = packs_api.upload_version(session, data, source, principal, client_of(request))
    except PackValidationError as failure:
        error = {"detail": answer_detail(failure), "problems": [item.as_dict() for item in failure.problems]}
        status = 409 if packs_api.is_clash(failure) else 422
        return _packs_page(request, session, principal, content=content, error=error, status_code=status)
    state = "uploaded" if result.created else "unchanged"
    return redirect(request, f"/packs/{result.row.name}?{state}={result.row.version}")


def answer_detail(failure: PackValidationError) -> str:
    """The sentence above the problems."""
    count = len(failure.problems)
    noun = f"{count} problem{'s' if count != 1 else ''}"
    if packs_api.is_clash(failure):
        return f"Not uploaded: the pack clashes with the catalogue ({noun}). Rename the pack or the probes."
    return f"Not uploaded: the pack is not valid ({noun}). Nothing was stored."


@router.get("/packs/{name}", summary="One probe pack: its versions")
def read_pack(name: packs_api.PackName, request: Request, session: SessionDep, principal: Reader) -> Response:
    detail = api_call(packs_api.read_pack, name, session, principal)
    notice = None
    if (uploaded := request.query_params.get("uploaded", "")).isdigit():
        notice = f"Version {uploaded} uploaded: new scans run it."
    elif (same := request.query_params.get("unchanged", "")).isdigit():
        notice = f"That is the text of version {same}, the active one: nothing new was stored."
    elif request.query_params.get("deactivated", "").isdigit():
        notice = "Deactivated: new scans no longer see this pack. Scans that ran it keep their versions."
    return page(request, "packs/detail.html", {"pack": detail, "notice": notice})


@router.get("/packs/{name}/versions/{version}", summary="One version of a probe pack: YAML and probes")
def read_pack_version(
    name: packs_api.PackName, version: packs_api.Version, request: Request, session: SessionDep, principal: Reader
) -> Response:
    shown = api_call(packs_api.read_pack_version, name, version, session, principal)
    return page(request, "packs/version.html", {"shown": shown})  # `version` is the footer's app version


@router.post("/packs/{name}/deactivate", summary="Take a probe pack out of new scans")
def deactivate_pack(name: packs_api.PackName, request: Request, session: SessionDep, principal: Writer) -> Response:
    try:
        row = packs_api.deactivate_pack(name, session, principal, client_of(request))
    except HTTPException as error:
        if error.status_code != 409:
            raise
        detail = api_call(packs_api.read_pack, name, session, principal)
        return page(
            request, "packs/detail.html", {"pack": detail, "notice": None, "error": error.detail}, status_code=409
        )
    return redirect(request, f"/packs/{name}?deactivated={row.version}")
