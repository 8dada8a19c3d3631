"""Mount the dashboard on the FastAPI application: its pages, its static files and its error pages.

The API keeps answering errors with problem+json; a browser asking for a dashboard page (Accept: text/html)
gets an HTML page for the same error instead: a sign-in redirect, a 403 or 404 page, a form error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ExceptionHandler

from app.api.errors import UNSTORABLE_VALUE_DETAIL
from app.web.deps import PageError, SignInRequiredError, verify_csrf
from app.web.routes import (
    api_docs,
    audit,
    auth,
    compliance,
    findings,
    housekeeping,
    overview,
    packs,
    scans,
    targets,
    users,
)
from app.web.session import CsrfError
from app.web.templating import page, redirect

STATIC_DIR = Path(__file__).parent / "static"
#: Paths that are never dashboard pages: their errors stay problem+json whatever the client accepts.
NOT_PAGES = ("/api/", "/health", "/ready", "/openapi.json", "/static/")
#: Every router of the dashboard (the page x role test walks these).
WEB_ROUTERS = (
    auth.router,
    api_docs.router,
    overview.router,
    targets.router,
    scans.router,
    packs.router,
    findings.router,
    compliance.router,
    audit.router,
    users.router,
    housekeeping.router,
)


def wants_page(request: Request) -> bool:
    """A browser (or htmx) asking for a dashboard page, rather than an API client."""
    if request.url.path.startswith(NOT_PAGES):
        return False
    return request.headers.get("HX-Request") == "true" or "text/html" in request.headers.get("accept", "")


def _error_page(request: Request, status_code: int, detail: str) -> Response:
    fragment = request.headers.get("HX-Request") == "true"
    context = {"status_code": status_code, "detail": detail}
    template = "_error_fragment.html" if fragment else "error.html"
    # the page's htmx configuration swaps 4xx and 5xx answers too: an error fragment shows where the action was
    return page(request, template, context, status_code=status_code)


def _with_pages(fallback: ExceptionHandler) -> ExceptionHandler:
    """An exception handler that renders an error page for dashboard requests and defers to `fallback`."""

    async def handle(request: Request, error: Exception) -> Response:
        if not wants_page(request):
            return await cast(Callable[[Request, Exception], Awaitable[Response]], fallback)(request, error)
        if isinstance(error, RequestValidationError):
            first = error.errors()[0] if error.errors() else {}
            where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body"))
            return _error_page(request, 422, f"{where or 'request'}: {first.get('msg', 'not valid')}")
        if isinstance(error, DataError | OverflowError):
            return _error_page(request, 422, UNSTORABLE_VALUE_DETAIL)
        assert isinstance(error, StarletteHTTPException)
        return _error_page(request, error.status_code, str(error.detail))

    return handle


async def _sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequiredError)
    return redirect(request, f"/login?next={quote(error.next_path, safe='/')}")


async def _page_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PageError)
    return _error_page(request, error.status_code, error.detail)


async def _csrf_error(request: Request, error: Exception) -> Response:
    return _error_page(request, 403, str(error))


def install_web(application: FastAPI) -> None:
    """Add the dashboard's routes (every state change CSRF-checked), static files and error pages."""
    application.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    pages = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
    for router in WEB_ROUTERS:
        pages.include_router(router)
    application.include_router(pages)
    for kind in (StarletteHTTPException, RequestValidationError, DataError, OverflowError):
        application.add_exception_handler(kind, _with_pages(application.exception_handlers[kind]))
    application.add_exception_handler(SignInRequiredError, _sign_in)
    application.add_exception_handler(PageError, _page_error)
    application.add_exception_handler(CsrfError, _csrf_error)
