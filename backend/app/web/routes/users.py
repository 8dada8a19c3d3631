"""People and credentials: user administration (admins) and each user's own API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from pydantic import ValidationError

from app.api.deps import SessionDep, client_of
from app.api.routes import users as users_api
from app.api.types import PathId
from app.auth import service
from app.auth.rbac import GRANTABLE, Permission
from app.db.enums import UserRole
from app.web.deps import web_require
from app.web.routes.common import api_call, first_error
from app.web.templating import page, redirect

router = APIRouter()
Admin = Annotated[service.Principal, Depends(web_require(Permission.USERS_MANAGE))]
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
ROLES = [role.value for role in UserRole]
#: Roles from the least to the most a token can do (a token form lists them in this order, viewer chosen).
ROLES_BY_REACH = ["viewer", "auditor", "analyst", "admin"]


def _users_page(
    request: Request,
    session: SessionDep,
    principal: service.Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    people = users_api.list_users(session, principal)
    context = {
        "users": people,
        "tokens": [
            (person, token)
            for person in people
            for token in users_api.list_user_tokens(person.id, session, principal)
            if token.revoked_at is None
        ],
        "roles": ROLES,
        "error": error,
        "notice": notice,
        "values": values or {"username": "", "email": "", "full_name": "", "role": "viewer"},
    }
    return page(request, "users/list.html", context, status_code=status_code)


def _message(error: HTTPException | ValidationError) -> tuple[str, int]:
    if isinstance(error, HTTPException):
        return str(error.detail), error.status_code
    return first_error(error), 422


@router.get("/users", summary="Users")
def list_users(request: Request, session: SessionDep, principal: Admin) -> Response:
    return _users_page(request, session, principal)


@router.post("/users", summary="Create a user")
def create_user(
    request: Request,
    session: SessionDep,
    principal: Admin,
    username: Annotated[str, Form(max_length=50)] = "",
    email: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=20)] = "viewer",
    full_name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    values = {"username": username, "email": email, "full_name": full_name, "role": role}
    try:
        body = users_api.UserCreate(
            username=username, email=email, password=password, role=role, full_name=full_name or None
        )
        created = users_api.create_user(body, session, principal, client_of(request))
    except (HTTPException, ValidationError) as error:
        session.rollback()
        message, status = _message(error)
        return _users_page(request, session, principal, error=message, values=values, status_code=status)
    return _users_page(request, session, principal, notice=f"User {created.username} created ({created.role.value}).")


@router.post("/users/{user_id}", summary="Change a user's role, or disable or enable them")
def update_user(
    user_id: PathId,
    request: Request,
    session: SessionDep,
    principal: Admin,
    role: Annotated[str | None, Form(max_length=20)] = None,
    active: Annotated[str | None, Form(max_length=5)] = None,
) -> Response:
    try:
        body = users_api.UserUpdate(role=role or None, is_active=None if active is None else active == "true")
        changed = users_api.update_user(user_id, body, session, principal, client_of(request))
    except (HTTPException, ValidationError) as error:
        if isinstance(error, HTTPException) and error.status_code == 404:
            raise
        message, status = _message(error)
        return _users_page(request, session, principal, error=message, status_code=status)
    state = "active" if changed.is_active else "disabled"
    return _users_page(request, session, principal, notice=f"{changed.username}: {changed.role.value}, {state}.")


@router.post("/users/tokens/{token_id}/revoke", summary="Revoke any user's API token (admin)")
def revoke_user_token(token_id: PathId, request: Request, session: SessionDep, principal: Admin) -> Response:
    api_call(users_api.revoke_token, token_id, session, principal, client_of(request))
    return redirect(request, "/users")


def _tokens_page(
    request: Request,
    session: SessionDep,
    principal: service.Principal,
    *,
    created: users_api.TokenCreated | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "tokens": users_api.list_tokens(session, principal),
        # least role first, and preselected: a token gets more only when someone chooses it
        "grantable": sorted((role.value for role in GRANTABLE[principal.role]), key=ROLES_BY_REACH.index),
        "created": created,
        "error": error,
    }
    return page(request, "users/tokens.html", context, status_code=status_code)


@router.get("/tokens", summary="Your API tokens")
def list_tokens(request: Request, session: SessionDep, principal: Reader) -> Response:
    return _tokens_page(request, session, principal)


@router.post("/tokens", summary="Create an API token (shown once)")
def create_token(
    request: Request,
    session: SessionDep,
    principal: Reader,
    name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "viewer",
    expires_in_days: Annotated[str, Form(max_length=5)] = "90",
) -> Response:
    try:
        days = int(expires_in_days) if expires_in_days.strip() else None
        body = users_api.TokenCreate(name=name, role=role, expires_in_days=days)
        created = users_api.create_token(body, session, principal, client_of(request))
    except ValueError as error:  # ValidationError is a ValueError
        message = _message(error)[0] if isinstance(error, ValidationError) else "Expiry must be a number of days."
        return _tokens_page(request, session, principal, error=message, status_code=422)
    except HTTPException as error:
        return _tokens_page(request, session, principal, error=str(error.detail), status_code=error.status_code)
    # the token is in this one page only; the response is no-store, like every page
    return _tokens_page(request, session, principal, created=created)


@router.post("/tokens/{token_id}/revoke", summary="Revoke one of your API tokens")
def revoke_token(token_id: PathId, request: Request, session: SessionDep, principal: Reader) -> Response:
    api_call(users_api.revoke_token, token_id, session, principal, client_of(request))
    return redirect(request, "/tokens")
