"""Sign in, refresh, sign out: short-lived access tokens and rotating refresh tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, StringConstraints

from app.api.deps import ClientDep, PrincipalDep, SessionDep, audit, unauthorized
from app.auth import service
from app.db.enums import UserRole

router = APIRouter(prefix="/auth", tags=["auth"])

Username = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LoginRequest(BaseModel):
    username: Username
    password: Secret


class RefreshRequest(BaseModel):
    refresh_token: Secret


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int = Field(description="Seconds the access token is valid.")


class Me(BaseModel):
    id: int
    username: str
    email: str
    full_name: str | None
    role: UserRole
    authenticated_with: str


def _pair(result: service.LoginResult) -> TokenPair:
    return TokenPair(access_token=result.access_token, refresh_token=result.refresh_token, expires_in=result.expires_in)


@router.post("/login", summary="Sign in with username and password")
def login(body: LoginRequest, session: SessionDep, client: ClientDep) -> TokenPair:
    """Returns an access token (minutes) and a refresh token (days). Repeated failures lock the account and the
    client address for a while (429 with Retry-After)."""
    try:
        result = service.authenticate_password(session, body.username, body.password, client.ip, client.user_agent)
    except service.AccountLockedError as error:
        session.rollback()
        audit(session, client, "login_locked", actor=None, details={"username": body.username})
        session.commit()
        raise HTTPException(429, str(error), headers={"Retry-After": str(error.retry_after)}) from None
    except service.LoginFailedError as error:
        audit(
            session,
            client,
            "login_failure",
            actor=error.user_id,
            details={"username": body.username, "reason": error.reason},
        )
        session.commit()  # the failure counts towards the lockout
        raise unauthorized("wrong username or password") from None
    audit(
        session,
        client,
        "login_success",
        actor=result.user.id,
        details={"password_rehashed": result.password_rehashed},
    )
    session.commit()
    return _pair(result)


@router.post("/refresh", summary="Trade a refresh token for a new pair")
def refresh(body: RefreshRequest, session: SessionDep, client: ClientDep) -> TokenPair:
    """The refresh token is single-use: presenting one that was already used ends its whole session."""
    try:
        result = service.refresh_session(session, body.refresh_token, client.ip, client.user_agent)
    except service.InvalidSessionError as error:
        if error.reason == "reuse":
            audit(
                session,
                client,
                "refresh_token_reuse",
                actor=error.user_id,
                details={"family": error.family_id},
            )
        session.commit()  # a reuse revokes the family
        raise unauthorized("the refresh token is invalid, expired or revoked") from None
    session.commit()
    return _pair(result)


@router.post("/logout", status_code=204, summary="End the session of a refresh token")
def logout(body: RefreshRequest, session: SessionDep, client: ClientDep) -> None:
    """Idempotent: an unknown or already revoked token is not an error."""
    result = service.logout(session, body.refresh_token)
    if result.user_id is not None:
        audit(session, client, "logout", actor=result.user_id)
    session.commit()


@router.get("/me", summary="Who the token belongs to")
def me(principal: PrincipalDep) -> Me:
    user = principal.user
    return Me(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        role=principal.role,
        authenticated_with=principal.method,
    )
