"""FastAPI dependencies: the database session, the caller (principal) and permission checks.

Routes ask for a permission (`require(Permission.TARGETS_WRITE)`), never for a role: the mapping lives in
`app.auth.rbac`, and the route x role test in tests/integration/api checks every route has a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.audit.log import record
from app.auth import service
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
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> service.Principal:
    """The authenticated caller; 401 problem+json without a valid access or API token."""
    if credentials is None:
        raise unauthorized("authentication required: send Authorization: Bearer <token>")
    try:
        principal = service.authenticate_bearer(session, credentials.credentials)
    except service.NotAuthenticatedError:
        raise unauthorized("the token is invalid, expired or revoked") from None
    session.commit()  # an API token's last_used_at
    return principal


PrincipalDep = Annotated[service.Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[[service.Principal], service.Principal]:
    """A dependency that lets the caller through only with `permission` (403 otherwise)."""

    def check(principal: PrincipalDep) -> service.Principal:
        if not has_permission(principal.role, permission):
            raise HTTPException(403, f"your role ({principal.role.value}) may not do this ({permission.value})")
        return principal

    check.permission = permission  # type: ignore[attr-defined]  # read by the route x role test
    return check


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
