"""How a dashboard page answers: Jinja2 with autoescaping, the filters the templates use, and the strict CSP.

Every page goes out through `page()` or `redirect()`, which also write the cookies the request decided on
(sign-in, a refreshed session, a new CSRF token): FastAPI does not merge a dependency's cookies into a
response a route returns itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app import __version__
from app.auth import service
from app.auth.rbac import Permission, has_permission
from app.db.enums import Severity, TriageState
from app.reports.view import displayable, percent, risk_band
from app.web.session import apply_cookies, csrf_token

TEMPLATE_DIR = Path(__file__).parent / "templates"
#: Scripts, styles and images from this server only; no inline script or style, no frame, no form elsewhere.
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def when(value: datetime | str | None) -> str:
    """A timestamp as the reader wants it: UTC, to the minute."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _query(params: dict[str, Any], **changes: Any) -> str:
    """The query string of `params` with `changes` applied (None drops a key); lists repeat their key."""
    merged = {**params, **changes}
    pairs = [
        (key, item)
        for key, value in merged.items()
        if value not in (None, "", [])
        for item in (value if isinstance(value, list) else [value])
    ]
    return urlencode(pairs)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # every template is HTML; target responses and probe texts are untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        duration=_duration,
        score=_score,
        percent=percent,
        band=risk_band,
        text=displayable,
        query=_query,
    )
    env.globals["version"] = __version__
    env.globals["triage_states"] = [state.value for state in TriageState]
    env.globals["severities"] = [severity.value for severity in Severity]
    return env


templates = Jinja2Templates(env=_environment())


def _secure(response: Response, request: Request) -> Response:
    response.headers["Content-Security-Policy"] = WEB_CSP
    apply_cookies(request, response)
    return response


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render `template` with the signed-in user, the CSRF token and `can(permission)` in its context."""
    me: service.Principal | None = getattr(request.state, "web_principal", None)

    def can(permission: str) -> bool:
        return me is not None and has_permission(me.role, Permission(permission))

    values = {"me": me, "can": can, "csrf_token": csrf_token(request), "path": request.url.path, **(context or {})}
    response = templates.TemplateResponse(request, template, values, status_code=status_code, headers=headers)
    return _secure(response, request)


def redirect(request: Request, url: str) -> Response:
    """See other: after a form post, or to the sign-in page. htmx requests get HX-Redirect instead, since a
    redirect would be followed by htmx itself and swapped into the page."""
    if request.headers.get("HX-Request") == "true":
        return _secure(HTMLResponse("", headers={"HX-Redirect": url}), request)
    return _secure(RedirectResponse(url, status_code=303), request)
