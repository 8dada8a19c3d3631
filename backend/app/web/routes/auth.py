"""Sign in and out of the dashboard (through the API's own login, lockout and audit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response

from app.api.deps import SessionDep
from app.web.session import current_principal, sign_in, sign_out
from app.web.templating import page, redirect

router = APIRouter()


def _local(path: str | None) -> str:
    """Only a path on this server: `next` must not turn the sign-in page into an open redirect."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or "\n" in path or "\r" in path:
        return "/"
    return path


@router.get("/login", summary="The sign-in page")
def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if current_principal(request, session) is not None:
        return redirect(request, _local(next))
    return page(request, "login.html", {"next": _local(next), "error": None, "username": ""})


@router.post("/login", summary="Sign in")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=50)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not username or not password:
        context = {"next": _local(next), "error": "Enter your username and password.", "username": username}
        return page(request, "login.html", context, status_code=422)
    try:
        sign_in(request, session, username, password)
    except HTTPException as error:
        message = (
            "Wrong username or password." if error.status_code == 401 else f"Too many failed sign-ins: {error.detail}"
        )
        headers = (
            {"Retry-After": error.headers["Retry-After"]} if error.headers and "Retry-After" in error.headers else None
        )
        context = {"next": _local(next), "error": message, "username": username}
        return page(request, "login.html", context, status_code=error.status_code, headers=headers)
    return redirect(request, _local(next))


@router.post("/logout", summary="Sign out")
def logout(request: Request, session: SessionDep) -> Response:
    sign_out(request, session)
    return redirect(request, "/login")
