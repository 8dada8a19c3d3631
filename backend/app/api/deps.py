"""FastAPI dependencies: the database session, the caller (principal) and permission checks.

Routes ask for a permission (`require(Permission.TARGETS_WRITE)`), never for a role: the mapping lives in
`app.auth.rbac`, and the route x role test in tests/integration/api checks every route has a rule.

Refusals are audited, rate-limited (app.audit.refusals): a refused bearer token (`auth_refused`; an expired
access token is routine and not recorded) and a permission denial (`permission_denied`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.audit import refusals
from app.audit.log import record
from app.auth import api_tokens, service
from app.auth.rbac import Permission, has_permission
from app.db.session import get_sessionmaker


def get_session() -> Iterator[Session]:
    """One session per request; routes commit what they change."""
    with get_sessionmaker()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login or an API token (sai_...).")


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the audit log and login throttling."""

    ip: str | None
    user_agent: str | None


def client_of(request: Request) -> Client:
    return Client(request.client.host if request.client else None, request.headers.get("user-agent"))


ClientDep = Annotated[Client, Depends(client_of)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> service.Principal:
    """The authenticated caller; 401 problem+json without a valid access or API token."""
    if credentials is None:
        raise unauthorized("authentication required: send Authorization: Bearer <token>")
    try:
        principal = service.authenticate_bearer(session, credentials.credentials)
    except service.NotAuthenticatedError as error:
        session.rollback()
        _audit_refused_token(session, client_of(request), credentials.credentials, error)
        raise unauthorized("the token is invalid, expired or revoked") from None
    session.commit()  # an API token's last_used_at
    return principal


def _audit_refused_token(session: Session, client: Client, token: str, error: service.NotAuthenticatedError) -> None:
    """Record a refused bearer token (never the token: an API token's public prefix at most)."""
    if error.reason == "expired":
        return  # every client's access token expires every few minutes; that is not an event
    api_token = token.startswith(f"{api_tokens.TOKEN_SCHEME}_")
    reason = "".join(char for char in error.reason if char.isprintable())[:100]  # may quote the token's header
    details: dict[str, object] = {"method": "api_token" if api_token else "access_token", "reason": reason}
    prefix = api_tokens.parse_prefix(token) if api_token else None
    if prefix:
        details["prefix"] = prefix
    written = refusals.record_refusal(
        session,
        refusals.AUTH_REFUSED,
        source=f"ip:{client.ip}",
        user_id=error.user_id,
        details=details,
        ip_address=client.ip,
        user_agent=client.user_agent,
    )
    if written:
        session.commit()


PrincipalDep = Annotated[service.Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[..., service.Principal]:
    """A dependency that lets the caller through only with `permission` (403 otherwise)."""

    def check(principal: PrincipalDep, request: Request, session: SessionDep) -> service.Principal:
        if not has_permission(principal.role, permission):
            deny(session, client_of(request), principal, permission.value, request.url.path)
            raise HTTPException(403, f"your role ({principal.role.value}) may not do this ({permission.value})")
        return principal

    check.permission = permission  # type: ignore[attr-defined]  # read by the route x role test
    return check


def deny(session: Session, client: Client, principal: service.Principal, wanted: str, path: str) -> None:
    """Record (rate-limited, committed) that `principal` was refused `wanted` on `path`."""
    written = refusals.record_refusal(
        session,
        refusals.PERMISSION_DENIED,
        source=f"user:{principal.user.id}",
        user_id=principal.user.id,
        details={"permission": wanted, "role": principal.role.value, "method": principal.method, "path": path[:200]},
        ip_address=client.ip,
        user_agent=client.user_agent,
    )
    if written:
        session.commit()


def audit(
    session: Session,
    client: Client,
    action: str,
    *,
    actor: int | None,
    resource_type: str | None = None,
    resource_id: int | None = None,
    details: Mapping[str, object] | None = None,
) -> None:
    """Record a security-relevant action of this request in the audit chain (same transaction as the change)."""
    record(
        session,
        action,
        user_id=actor,
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
        ip_address=client.ip,
        user_agent=client.user_agent,
    )
