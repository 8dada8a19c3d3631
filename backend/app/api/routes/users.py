"""User administration (admin only), the caller's own API tokens, and an admin's view of everyone's tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, StringConstraints

from app.api.deps import ClientDep, PrincipalDep, SessionDep, audit, deny, require
from app.api.errors_auth import http_error
from app.api.types import PathId, SafeName, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission, has_permission
from app.db.enums import UserRole
from app.db.models import ApiToken, User, utcnow

router = APIRouter(tags=["users"])
Admin = Annotated[service.Principal, Depends(require(Permission.USERS_MANAGE))]
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class UserOut(BaseModel):
    id: int
    username: str
    email: str
    full_name: str | None
    role: UserRole
    is_active: bool
    last_login_at: UtcDateTime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            is_active=user.is_active is not False,
            last_login_at=user.last_login_at,
        )


class UserCreate(BaseModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    email: Annotated[str, StringConstraints(min_length=3, max_length=255)]
    password: Password
    role: UserRole = UserRole.VIEWER
    full_name: Annotated[str, StringConstraints(max_length=100)] | None = None


class UserUpdate(BaseModel):
    role: UserRole | None = None
    is_active: bool | None = None


class PasswordReset(BaseModel):
    password: Password


class TokenCreate(BaseModel):
    name: SafeName
    role: UserRole = Field(
        default=UserRole.VIEWER,
        description="Ceiling: the token never acts above this, nor above your own role. Left out: viewer (read "
        "only), the least role; ask for more only when the job needs it.",
    )
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="None: never expires.")


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    role: UserRole
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            user_id=token.user_id,
            name=token.name,
            prefix=token.prefix,
            role=token.role,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenOut):
    token: str = Field(description="Shown this once; store it now.")


def _user(session: SessionDep, user_id: PathId) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"no user {user_id}")
    return user


@router.get("/users", summary="List users")
def list_users(session: SessionDep, _: Admin) -> list[UserOut]:
    return [UserOut.of(user) for user in service.list_users(session)]


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: UserCreate, session: SessionDep, admin: Admin, client: ClientDep) -> UserOut:
    try:
        user = service.create_user(
            session, body.username, body.email, body.password, body.role, full_name=body.full_name
        )
    except service.AuthError as error:
        raise http_error(error) from None
    audit(
        session,
        client,
        "user_create",
        actor=admin.user.id,
        resource_type="user",
        resource_id=user.id,
        details={"username": user.username, "role": user.role.value},
    )
    session.commit()
    return UserOut.of(user)


@router.patch("/users/{user_id}", summary="Change a user's role or disable/enable them")
def update_user(user_id: PathId, body: UserUpdate, session: SessionDep, admin: Admin, client: ClientDep) -> UserOut:
    user = _user(session, user_id)
    details: dict[str, object] = {"username": user.username}
    try:
        if body.role is not None and body.role != user.role:
            change = service.set_role(session, user, body.role)
            details["role"] = [change.old_role.value, change.new_role.value]
        if body.is_active is False and user.is_active is not False:
            disabled = service.disable(session, user)
            details["disabled"] = {"api_tokens_revoked": disabled.api_tokens_revoked}
        elif body.is_active is True and user.is_active is False:
            service.enable(session, user)
            details["enabled"] = True
    except service.AuthError as error:
        session.rollback()
        raise http_error(error) from None
    audit(
        session,
        client,
        "user_update",
        actor=admin.user.id,
        resource_type="user",
        resource_id=user.id,
        details=details,
    )
    session.commit()
    return UserOut.of(user)


@router.post("/users/{user_id}/reset-password", status_code=204, summary="Set a new password for a user")
def reset_password(user_id: PathId, body: PasswordReset, session: SessionDep, admin: Admin, client: ClientDep) -> None:
    user = _user(session, user_id)
    try:
        result = service.reset_password(session, user, body.password)
    except service.AuthError as error:
        raise http_error(error) from None
    audit(
        session,
        client,
        "user_password_reset",
        actor=admin.user.id,
        resource_type="user",
        resource_id=user.id,
        details={"sessions_revoked": result.sessions_revoked},
    )
    session.commit()


@router.get("/users/{user_id}/tokens", summary="A user's API tokens (admin)")
def list_user_tokens(user_id: PathId, session: SessionDep, _: Admin) -> list[TokenOut]:
    """Every API token of the user, revoked and expired ones included; the secrets themselves are never stored."""
    return [TokenOut.of(token) for token in service.list_api_tokens(session, _user(session, user_id))]


@router.get("/tokens", summary="Your API tokens")
def list_tokens(session: SessionDep, principal: Reader) -> list[TokenOut]:
    return [TokenOut.of(token) for token in service.list_api_tokens(session, principal.user)]


@router.post("/tokens", status_code=201, summary="Create an API token (shown once)")
def create_token(body: TokenCreate, session: SessionDep, principal: PrincipalDep, client: ClientDep) -> TokenCreated:
    if principal.method == "api_token":
        deny(session, client, principal, "tokens:create (with an API token)", "/tokens")
        raise HTTPException(403, "an API token cannot create API tokens; sign in with your password")
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        created = service.create_api_token(session, principal.user, body.name, body.role, expires)
    except service.AuthError as error:
        raise http_error(error) from None
    audit(
        session,
        client,
        "api_token_create",
        actor=principal.user.id,
        resource_type="api_token",
        resource_id=created.record.id,
        details={"name": body.name, "prefix": created.record.prefix, "role": body.role.value},
    )
    session.commit()
    return TokenCreated(**TokenOut.of(created.record).model_dump(), token=created.token)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token (yours; an admin: anyone's)")
def revoke_token(token_id: PathId, session: SessionDep, principal: PrincipalDep, client: ClientDep) -> None:
    """Anyone may revoke their own tokens; an administrator (users:manage) may revoke any user's. For anyone
    else another user's token is answered 404, as an unknown id is, so ids of others' tokens are not probed."""
    admin = has_permission(principal.role, Permission.USERS_MANAGE)
    try:
        token = service.revoke_api_token(session, token_id, owner=None if admin else principal.user)
    except service.AuthError as error:
        raise http_error(error) from None
    details: dict[str, object] = {"prefix": token.prefix}
    if token.user_id != principal.user.id:
        details["owner_id"] = token.user_id
    audit(
        session,
        client,
        "api_token_revoke",
        actor=principal.user.id,
        resource_type="api_token",
        resource_id=token.id,
        details=details,
    )
    session.commit()
