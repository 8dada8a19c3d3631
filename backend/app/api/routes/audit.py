"""The audit log, read-only: list and verify the hash chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select

from app.api.deps import SessionDep, require
from app.api.pagination import Cursor, Limit, Page, page_by_id
from app.api.types import UtcDateTime
from app.audit.verify import verify_chain
from app.auth import service
from app.auth.rbac import Permission
from app.db.models import AuditLog

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


@router.get("", summary="Audit records, newest first")
def list_audit(session: SessionDep, _: Auditor, limit: Limit = 50, cursor: Cursor = None) -> Page[AuditOut]:
    page, next_cursor = page_by_id(session, select(AuditLog), AuditLog.id, limit, cursor, newest_first=True)
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
