"""The audit log (auditors and admins): newest records first, filtered by actor, action and dates, exported as
CSV or JSON Lines (the API's export, same filters), and a check of the hash chain."""

from __future__ import annotations

from datetime import date
from typing import Annotated, cast, get_args

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from app.api.deps import SessionDep, client_of
from app.api.pagination import Cursor
from app.api.routes import audit as audit_api
from app.audit.query import AuditFilter, ExportFormat, known_actions
from app.auth import service
from app.auth.rbac import Permission
from app.db.models import User
from app.web.deps import PageError, web_require
from app.web.templating import page

router = APIRouter()
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
Auditor = Annotated[service.Principal, Depends(web_require(Permission.AUDIT_READ))]


def _day(value: str, name: str) -> date | None:
    """A date field of the filter form: blank is no condition; anything else must be YYYY-MM-DD."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PageError(422, f"{name} must be a date like 2026-12-31, not {value.strip()[:20]!r}") from None


@router.get("/audit", summary="Audit records, newest first, filtered by actor, action and dates; CSV/JSONL export")
def audit_log(
    request: Request,
    session: SessionDep,
    principal: Auditor,
    cursor: Cursor = None,
    actor: Annotated[str, Query(max_length=50)] = "",
    action: Annotated[str, Query(max_length=50)] = "",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
    export: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The page, or with `export=csv|jsonl` every record the filters select (the API's export, audited)."""
    # the form sends every field, blank ones as "": blank means "any"
    chosen = AuditFilter(actor.strip() or None, action.strip() or None, _day(since, "From"), _day(until, "To"))
    if export:
        if export not in EXPORT_FORMATS:
            raise PageError(422, f"export must be one of {', '.join(EXPORT_FORMATS)}, not {export[:10]!r}")
        return audit_api.export(
            session,
            principal,
            client_of(request),
            cast(ExportFormat, export),
            actor=chosen.actor,
            action=chosen.action,
            since=chosen.since,
            until=chosen.until,
        )
    listing = audit_api.list_audit(
        session,
        principal,
        limit=100,
        cursor=cursor,
        actor=chosen.actor,
        action=chosen.action,
        since=chosen.since,
        until=chosen.until,
    )
    ids = {record.user_id for record in listing.items if record.user_id is not None}
    names = {user.id: user.username for user in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    context = {
        "records": listing.items,
        "next_cursor": listing.next_cursor,
        "usernames": names,
        "filter": chosen,
        "params": chosen.as_params(),
        "actors": list(session.scalars(select(User.username).order_by(User.username))),
        "actions": known_actions(session),
    }
    return page(request, "audit/list.html", context)


@router.get("/audit/verify", summary="Check the hash chain (htmx fragment)")
def verify(request: Request, session: SessionDep, principal: Auditor) -> Response:
    return page(request, "audit/_verify.html", {"result": audit_api.verify(session, principal)})
