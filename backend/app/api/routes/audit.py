"""The audit log, read-only: list and verify the hash chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from app.api.deps import ClientDep, SessionDep, audit, require
from app.api.pagination import Cursor, Limit, Page, page_by_id
from app.api.types import UtcDateTime
from app.audit.query import AuditFilter, ExportFormat, export_lines
from app.audit.verify import verify_chain
from app.auth import service
from app.auth.rbac import Permission
from app.db.models import AuditLog
from app.db.session import get_sessionmaker

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[service.Principal, Depends(require(Permission.AUDIT_READ))]


class AuditOut(BaseModel):
    id: int
    created_at: UtcDateTime | None
    user_id: int | None
    action: str
    resource_type: str | None
    resource_id: int | None
    details: dict[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    row_hash: str | None


Actor = Annotated[str | None, Query(min_length=1, max_length=50, description="Only this user's records (username).")]
Action = Annotated[str | None, Query(min_length=1, max_length=50, description="Only records of this action.")]
Since = Annotated[date | None, Query(description="From this day (UTC, included), YYYY-MM-DD.")]
Until = Annotated[date | None, Query(description="To this day (UTC, included), YYYY-MM-DD.")]


@router.get("", summary="Audit records, newest first; filter by actor, action and dates")
def list_audit(
    session: SessionDep,
    _: Auditor,
    limit: Limit = 50,
    cursor: Cursor = None,
    actor: Actor = None,
    action: Action = None,
    since: Since = None,
    until: Until = None,
) -> Page[AuditOut]:
    query = AuditFilter(actor, action, since, until).apply(select(AuditLog))
    page, next_cursor = page_by_id(session, query, AuditLog.id, limit, cursor, newest_first=True)
    items = [
        AuditOut(
            id=r.id,
            created_at=r.created_at,
            user_id=r.user_id,
            action=r.action,
            resource_type=r.resource_type,
            resource_id=r.resource_id,
            details=r.details,
            ip_address=r.ip_address,
            user_agent=r.user_agent,
            row_hash=r.row_hash,
        )
        for r in page
    ]
    return Page(items=items, next_cursor=next_cursor)


@router.get("/verify", summary="Check the hash chain; names the first broken row")
def verify(session: SessionDep, _: Auditor) -> dict[str, Any]:
    return verify_chain(session).as_dict()


@router.get(
    "/export",
    summary="The (filtered) audit records as CSV or JSON Lines, oldest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export(
    session: SessionDep,
    principal: Auditor,
    client: ClientDep,
    export_format: Annotated[ExportFormat, Query(alias="format")] = "csv",
    actor: Actor = None,
    action: Action = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """Every record the same filters list, with its hashes (so the export can be checked against the chain);
    the export itself is audited (`audit_export`)."""
    audit_filter = AuditFilter(actor, action, since, until)
    audit(
        session,
        client,
        "audit_export",
        actor=principal.user.id,
        resource_type="audit_log",
        details={"format": export_format, **audit_filter.as_params()},
    )
    session.commit()
    media = "text/csv; charset=utf-8" if export_format == "csv" else "application/x-ndjson"
    disposition = f'attachment; filename="secureai-audit.{export_format}"'

    def lines() -> Iterator[str]:  # its own session: the request's may be closed while the body streams
        with get_sessionmaker()() as reader:
            yield from export_lines(reader, audit_filter, export_format)

    return StreamingResponse(
        lines(),
        media_type=media,
        headers={"Content-Disposition": disposition},
    )
