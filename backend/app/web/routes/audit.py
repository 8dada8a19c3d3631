"""The audit log (auditors and admins): newest records first, and a check of the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from app.api.deps import SessionDep
from app.api.pagination import Cursor
from app.api.routes import audit as audit_api
from app.auth import service
from app.auth.rbac import Permission
from app.db.models import User
from app.web.deps import web_require
from app.web.templating import page

router = APIRouter()
Auditor = Annotated[service.Principal, Depends(web_require(Permission.AUDIT_READ))]


@router.get("/audit", summary="Audit records, newest first")
def audit_log(request: Request, session: SessionDep, principal: Auditor, cursor: Cursor = None) -> Response:
    listing = audit_api.list_audit(session, principal, limit=100, cursor=cursor)
    ids = {record.user_id for record in listing.items if record.user_id is not None}
    names = {user.id: user.username for user in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    context = {"records": listing.items, "next_cursor": listing.next_cursor, "usernames": names}
    return page(request, "audit/list.html", context)


@router.get("/audit/verify", summary="Check the hash chain (htmx fragment)")
def verify(request: Request, session: SessionDep, principal: Auditor) -> Response:
    return page(request, "audit/_verify.html", {"result": audit_api.verify(session, principal)})
