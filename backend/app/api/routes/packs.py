"""User probe packs: upload (each upload of a name is its next version), list, read, deactivate.

Reading is for every signed-in role; uploading and deactivating change what scans send, so they take the
permission that starts scans (`scans:write`). A pack that does not validate is a 422 whose `errors` lists every
problem with its file, line and field; one that clashes with the shipped packs or another active pack is a
409 naming both places. Both are problem+json, and nothing is stored.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from app.api.deps import Client, ClientDep, SessionDep, require
from app.api.errors import problem
from app.api.pagination import Cursor, Limit, Page, page_by_id
from app.api.types import MAX_ID, UNSAFE_NAME_CATEGORIES, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud import packs as crud
from app.db.models import ProbePack, User
from app.engine.probes.user_packs import PackValidationError

router = APIRouter(prefix="/packs", tags=["probe packs"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]
Writer = Annotated[service.Principal, Depends(require(Permission.SCANS_WRITE))]
PackName = Annotated[
    str, Path(pattern=r"^[a-z0-9_]+$", max_length=crud.MAX_NAME, description="The pack's `pack:` name.")
]
Version = Annotated[int, Path(ge=1, le=MAX_ID, description="The platform's version number of the pack.")]
#: Content types of a pack sent as the request body itself.
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
#: How an upload without a file name is named in problems.
DEFAULT_SOURCE = "upload.yaml"
UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The pack's YAML (docs/probe-packs.md), as the body or as the file `file` of a form.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


class PackVersionOut(BaseModel):
    """One stored version of a pack."""

    id: int
    name: str
    version: int = Field(description="The platform's version number: 1 for the first upload of the name, then 2...")
    declared_version: int = Field(description="The `version:` the YAML itself declares.")
    title: str
    probes: int = Field(description="How many probes the version holds.")
    sha256: str = Field(description="SHA-256 of the YAML text, as a scan records it.")
    active: bool = Field(description="Whether new scans see this version (at most one version of a name is).")
    uploaded_by: str | None
    created_at: UtcDateTime
    deactivated_at: UtcDateTime | None

    @classmethod
    def of(cls, row: ProbePack, users: dict[int, str]) -> PackVersionOut:
        return cls(
            id=row.id,
            name=row.name,
            version=row.version,
            declared_version=row.declared_version,
            title=row.title,
            probes=row.probe_count,
            sha256=row.digest,
            active=row.active,
            uploaded_by=users.get(row.uploaded_by) if row.uploaded_by is not None else None,
            created_at=row.created_at,
            deactivated_at=row.deactivated_at,
        )


class PackOut(BaseModel):
    """A pack: its latest version, and which version new scans run (None: deactivated)."""

    name: str
    active_version: int | None
    versions: int
    latest: PackVersionOut


class PackDetailOut(BaseModel):
    """A pack and every version of it, newest first."""

    name: str
    active_version: int | None
    versions: list[PackVersionOut]


class ProbeSummary(BaseModel):
    id: str
    title: str
    owasp: str
    severity: str
    kind: str
    tags: list[str]


class PackContentOut(PackVersionOut):
    """One version with its YAML and its probes."""

    content: str = Field(description="The YAML as uploaded.")
    probe_list: list[ProbeSummary]
    problems: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Why the stored YAML no longer validates (a later release tightened the pack schema), each "
        "with file, line, field and message; empty for a valid version. Such a pack stops new scans until it is "
        "deactivated or uploaded again, fixed.",
    )


def usernames(session: Session, rows: list[ProbePack]) -> dict[int, str]:
    """Who uploaded the rows (one query)."""
    ids = {row.uploaded_by for row in rows if row.uploaded_by is not None}
    if not ids:
        return {}
    return {user_id: name for user_id, name in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


def source_name(filename: str | None) -> str:
    """An upload's file name as problems name it: the last path part, no control or format characters."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(char for char in base if unicodedata.category(char) not in UNSAFE_NAME_CATEGORIES).strip()
    return kept[:100] or DEFAULT_SOURCE


async def pack_upload(
    request: Request,
    filename: Annotated[
        str | None, Query(max_length=200, description="Names the pack in problems when it is sent as the body.")
    ] = None,
) -> tuple[bytes, str]:
    """The uploaded pack's bytes and the name its problems go by; 415 for another content type, 422 for a form
    without its `file`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        item = form.get("file")
        if not isinstance(item, UploadFile):
            raise HTTPException(422, "send the pack as the file field `file` of the form")
        return await item.read(), source_name(item.filename)
    if content_type in YAML_TYPES:
        return await request.body(), source_name(filename)
    raise HTTPException(
        415,
        "send the pack's YAML as the body (content-type: application/yaml) or as the file `file` of a "
        "multipart/form-data form",
    )


Upload = Annotated[tuple[bytes, str], Depends(pack_upload)]


def is_clash(error: PackValidationError) -> bool:
    """A valid pack that clashes with the catalogue (409), rather than an invalid one (422)."""
    return isinstance(error, crud.PackClashError)


def problems_response(error: PackValidationError) -> JSONResponse:
    """422 (invalid) or 409 (a clash) problem+json listing each problem: file, line, field, message."""
    clash = is_clash(error)
    problems = [item.as_dict() for item in error.problems]
    count = len(problems)
    if clash:
        detail = (
            f"the pack clashes with the catalogue ({count} problem{'s' if count != 1 else ''}): {error.problems[0]}"
        )
    else:
        detail = f"the pack is not valid ({count} problem{'s' if count != 1 else ''}): {error.problems[0]}"
    return problem(409 if clash else 422, detail, errors=problems)


def upload_version(
    session: Session, data: bytes, source: str, principal: service.Principal, client: Client
) -> crud.UploadResult:
    """The upload for the API and the dashboard: committed; or PackValidationError (PackClashError for a clash)
    with nothing stored."""
    try:
        result = crud.upload_pack(
            session, data, source, actor=principal.user.id, ip_address=client.ip, user_agent=client.user_agent
        )
    except PackValidationError:
        session.rollback()
        raise
    session.commit()
    return result


@router.post(
    "",
    status_code=201,
    response_model=PackVersionOut,
    summary="Upload a probe pack (a new version of its name)",
    openapi_extra=UPLOAD_DOC,
    responses={
        200: {"description": "The YAML is that of the pack's active version: nothing was stored"},
        409: {"description": "A pack name or probe id clashes with the shipped or another active pack"},
        415: {"description": "Neither YAML nor a multipart form"},
    },
)
def upload_pack(  # `principal` first: the permission is checked before the body is read
    principal: Writer, body: Upload, session: SessionDep, client: ClientDep, response: Response
) -> PackVersionOut | JSONResponse:
    """The YAML of one pack, as in a `--packs` directory (docs/probe-packs.md). It becomes the next version of its
    name and the name's active version (201); the previous version stays stored, inactive. A pack whose text is
    that of its active version is answered 200 with that version. Audited as `pack_upload`."""
    data, source = body
    try:
        result = upload_version(session, data, source, principal, client)
    except PackValidationError as error:
        return problems_response(error)
    if not result.created:
        response.status_code = 200
    return PackVersionOut.of(result.row, usernames(session, [result.row]))


@router.get("", summary="List probe packs (their latest versions)")
def list_packs(session: SessionDep, _: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[PackOut]:
    latest = select(func.max(ProbePack.id)).group_by(ProbePack.name)
    page, next_cursor = page_by_id(
        session, select(ProbePack).where(ProbePack.id.in_(latest)), ProbePack.id, limit, cursor
    )
    names = [row.name for row in page]
    counted = select(ProbePack.name, func.count()).where(ProbePack.name.in_(names)).group_by(ProbePack.name)
    counts: dict[str, int] = {name: count for name, count in session.execute(counted)}
    actives = select(ProbePack.name, ProbePack.version).where(ProbePack.name.in_(names), ProbePack.active.is_(True))
    active: dict[str, int] = {name: version for name, version in session.execute(actives)}
    users = usernames(session, page)
    items = [
        PackOut(
            name=row.name,
            active_version=active.get(row.name),
            versions=counts[row.name],
            latest=PackVersionOut.of(row, users),
        )
        for row in page
    ]
    return Page(items=items, next_cursor=next_cursor)


def _not_found(error: crud.PackNotFoundError) -> HTTPException:
    return HTTPException(404, str(error))


@router.get("/{name}", summary="One probe pack and its versions, newest first")
def read_pack(name: PackName, session: SessionDep, _: Reader) -> PackDetailOut:
    try:
        rows = crud.pack_versions(session, name)
    except crud.PackNotFoundError as error:
        raise _not_found(error) from None
    users = usernames(session, rows)
    active = next((row.version for row in rows if row.active), None)
    return PackDetailOut(name=name, active_version=active, versions=[PackVersionOut.of(row, users) for row in rows])


@router.get("/{name}/versions/{version}", summary="One version of a probe pack: its YAML and probes")
def read_pack_version(name: PackName, version: Version, session: SessionDep, _: Reader) -> PackContentOut:
    try:
        row = crud.pack_version(session, name, version)
    except crud.PackNotFoundError as error:
        raise _not_found(error) from None
    shown = PackVersionOut.of(row, usernames(session, [row]))
    try:
        pack = crud.stored_pack(row).pack
    except PackValidationError as error:
        problems = [item.as_dict() for item in error.problems]
        return PackContentOut(**shown.model_dump(), content=row.content, probe_list=[], problems=problems)
    probes = [
        ProbeSummary(
            id=probe.id,
            title=probe.title,
            owasp=probe.owasp,
            severity=probe.severity,
            kind=probe.kind,
            tags=list(probe.tags),
        )
        for probe in pack.probes
    ]
    return PackContentOut(**shown.model_dump(), content=row.content, probe_list=probes)


@router.post("/{name}/deactivate", summary="Take a probe pack out of new scans (its versions stay)")
def deactivate_pack(name: PackName, session: SessionDep, principal: Writer, client: ClientDep) -> PackVersionOut:
    """New scans no longer see the pack; scans that ran it keep reading the versions they ran. Uploading the pack
    again makes a new, active version. 409 when no version is active. Audited as `pack_deactivate`."""
    try:
        row = crud.deactivate_pack(
            session, name, actor=principal.user.id, ip_address=client.ip, user_agent=client.user_agent
        )
    except crud.PackNotFoundError as error:
        raise _not_found(error) from None
    except crud.PackConflictError as error:
        session.rollback()
        raise HTTPException(409, str(error)) from None
    session.commit()
    return PackVersionOut.of(row, usernames(session, [row]))
