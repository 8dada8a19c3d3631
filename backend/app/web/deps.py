"""Dependencies of the dashboard's routes: who is signed in, what they may do, and the CSRF check.

Pages ask for a permission exactly as API routes do (`web_require(Permission.SCANS_WRITE)`), checked against
the same role table (app.auth.rbac); tests/integration/web walks every page route and checks it has one.
A denied page and a failed CSRF check are audited as the API's refusals are (rate-limited, app.audit.refusals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, client_of, deny
from app.audit import refusals
from app.auth import service
from app.auth.rbac import Permission, has_permission
from app.web.session import CSRF_FIELD, CSRF_HEADER, CsrfError, check_csrf, current_principal

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequiredError(Exception):
    """No valid session: the browser is sent to the sign-in page, and back to `next_path` afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageError(Exception):
    """An error page: the status and a sentence for the reader (never a traceback)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def web_principal(request: Request, session: SessionDep) -> service.Principal:
    """The signed-in user; SignInRequiredError without a session."""
    principal = current_principal(request, session)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target if request.method == "GET" else "/")
    request.state.web_principal = principal
    return principal


WebPrincipalDep = Annotated[service.Principal, Depends(web_principal)]


def web_require(permission: Permission) -> Callable[..., service.Principal]:
    """A dependency that lets the signed-in user through only with `permission` (a 403 page otherwise)."""

    def check(principal: WebPrincipalDep, request: Request, session: SessionDep) -> service.Principal:
        if not has_permission(principal.role, permission):
            deny(session, client_of(request), principal, permission.value, request.url.path)
            raise PageError(403, f"Your role ({principal.role.value}) may not do this ({permission.value}).")
        return principal

    check.permission = permission  # type: ignore[attr-defined]  # read by the page x role test
    return check


async def verify_csrf(request: Request) -> None:
    """On every state-changing request: the CSRF token from the form field or the htmx header must match."""
    if request.method not in UNSAFE_METHODS:
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    try:
        check_csrf(request, submitted)
    except CsrfError:
        client = client_of(request)
        await run_in_threadpool(
            refusals.record_refusal_now,
            refusals.CSRF_FAILED,
            source=f"ip:{client.ip}",
            details={"method": request.method, "path": request.url.path[:200], "token_sent": submitted is not None},
            ip_address=client.ip,
            user_agent=client.user_agent,
        )
        raise
