"""The dashboard's browser session: the API's own tokens kept in cookies, and CSRF protection.

Signing in through the dashboard is signing in through the API (`POST /auth/login`): the access token (JWT,
minutes) and the refresh token (days) go into HttpOnly, SameSite=Strict cookies that scripts cannot read. An
expired access token is traded for a new pair with the refresh token, as an API client would. A refresh token
is single-use and a reused one ends the session (app.auth.refresh), so two requests of one browser that both
find the access token expired must not both rotate it: within a process, the first one's new pair is handed
to the others for a short while instead.

That hand-over is bound to the browser session, not only to the refresh token: sign-in also sets a third
HttpOnly cookie, `secureai_binding`, a random value of this browser session. A refresh through the dashboard
needs it, and a just-rotated pair is handed only to a request that presents the same binding. A request that
presents a used refresh cookie without that binding (another one, or none: copied from elsewhere) is a replay,
and is treated as the API treats one: the refresh token family is revoked and `refresh_token_reuse` is audited
(docs/dashboard.md).

Every form and htmx request that changes something carries a CSRF token (double submit: a random value in a
cookie and the same value in the form field or the `X-CSRF-Token` header), besides SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response
from sqlalchemy.orm import Session

from app.api.deps import client_of
from app.api.routes import auth as auth_api
from app.auth import refresh as refresh_tokens
from app.auth import service
from app.auth.api_tokens import TOKEN_SCHEME
from app.auth.refresh import REFRESH_TOKEN_TTL
from app.config import get_settings

ACCESS_COOKIE = "secureai_access"
REFRESH_COOKIE = "secureai_refresh"
CSRF_COOKIE = "secureai_csrf"
BINDING_COOKIE = "secureai_binding"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: How long a just-rotated refresh token's successor is handed to the same browser's concurrent requests.
REFRESH_SHARE_S = 30.0


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class CookieChange:
    name: str
    value: str | None  # None deletes the cookie
    max_age: int | None = None


def _changes(request: Request) -> list[CookieChange]:
    if not hasattr(request.state, "cookie_changes"):
        request.state.cookie_changes = []
    changes: list[CookieChange] = request.state.cookie_changes
    return changes


def apply_cookies(request: Request, response: Response) -> None:
    """Write the cookie changes this request decided on (sign-in, refresh, a new CSRF token) into `response`."""
    secure = get_settings().cookie_secure or request.url.scheme == "https"
    for change in _changes(request):
        if change.value is None:
            response.delete_cookie(change.name, path="/", secure=secure, httponly=True, samesite="strict")
        else:
            response.set_cookie(
                change.name,
                change.value,
                max_age=change.max_age,
                path="/",
                secure=secure,
                httponly=True,
                samesite="strict",
            )


def csrf_token(request: Request) -> str:
    """This browser's CSRF token, made (and queued as a cookie) on its first page."""
    current = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not current or len(current) != 43:
        current = secrets.token_urlsafe(32)
        _changes(request).append(CookieChange(CSRF_COOKIE, current))
    request.state.csrf_token = current
    return current


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a state-changing request whose token is missing or not this browser's."""
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfError("the form is stale or came from another site; reload the page and try again")


def _forget_session(request: Request) -> None:
    """Delete the session cookies with this response (signed out, or a refresh token that no longer works)."""
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, BINDING_COOKIE):
        _changes(request).append(CookieChange(name, None))


def _store_pair(request: Request, pair: auth_api.TokenPair) -> None:
    changes = _changes(request)
    changes.append(CookieChange(ACCESS_COOKIE, pair.access_token, pair.expires_in))
    changes.append(CookieChange(REFRESH_COOKIE, pair.refresh_token, int(REFRESH_TOKEN_TTL.total_seconds())))


def sign_in(request: Request, session: Session, username: str, password: str) -> None:
    """Sign in as the API does (same lockout, same audit records); HTTPException 401/429 on failure.

    A new CSRF token is issued with the session, so a token planted before sign-in is worthless after it."""
    pair = auth_api.login(auth_api.LoginRequest(username=username, password=password), session, client_of(request))
    _store_pair(request, pair)
    lifetime = int(REFRESH_TOKEN_TTL.total_seconds())
    _changes(request).append(CookieChange(BINDING_COOKIE, secrets.token_urlsafe(32), lifetime))
    fresh = secrets.token_urlsafe(32)
    _changes(request).append(CookieChange(CSRF_COOKIE, fresh))
    request.state.csrf_token = fresh


def sign_out(request: Request, session: Session) -> None:
    """End the refresh-token family of this browser (audited) and delete the cookies."""
    token = request.cookies.get(REFRESH_COOKIE)
    if token and len(token) <= 1024:
        auth_api.logout(auth_api.RefreshRequest(refresh_token=token), session, client_of(request))
    _forget_session(request)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class _Shared:
    at: float
    binding: str  # digest of the binding cookie of the browser session that rotated
    pair: auth_api.TokenPair


class _RecentRefreshes:
    """Successor pairs of refresh tokens rotated in the last REFRESH_SHARE_S seconds, by the old token's digest,
    with the digest of the binding cookie of the browser session that rotated them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pairs: dict[str, _Shared] = {}

    def get(self, digest: str) -> _Shared | None:
        now = time.monotonic()
        for key in [key for key, shared in self.pairs.items() if now - shared.at > REFRESH_SHARE_S]:
            del self.pairs[key]
        return self.pairs.get(digest)

    def put(self, digest: str, binding: str, pair: auth_api.TokenPair) -> None:
        self.pairs[digest] = _Shared(time.monotonic(), binding, pair)

    def drop(self, digest: str) -> None:
        self.pairs.pop(digest, None)


_recent = _RecentRefreshes()


def _refresh(request: Request, session: Session, token: str) -> auth_api.TokenPair | None:
    """The API's refresh: a new pair, or None (a used token presented again revokes its family, audited)."""
    try:
        return auth_api.refresh(auth_api.RefreshRequest(refresh_token=token), session, client_of(request))
    except HTTPException:
        return None


def _refreshed(request: Request, session: Session, token: str) -> auth_api.TokenPair | None:
    binding = request.cookies.get(BINDING_COOKIE)
    if not binding or len(binding) > 128:
        # a refresh cookie alone proves nothing and is never refreshed; a used one is a replay (the API revokes)
        row = refresh_tokens.find(session, token)
        if row is not None and row.rotated_at is not None and row.revoked_at is None:
            _refresh(request, session, token)
        return None
    digest, bound = _digest(token), _digest(binding)
    with _recent.lock:
        shared = _recent.get(digest)
        if shared is not None and hmac.compare_digest(shared.binding, bound):
            return shared.pair  # a concurrent request of the same browser session
        if shared is not None:
            # a used refresh token from another browser: present it to the API, which revokes the family
            _recent.drop(digest)
            return _refresh(request, session, token)
        pair = _refresh(request, session, token)
        if pair is not None:
            _recent.put(digest, bound, pair)
    return pair


def current_principal(request: Request, session: Session) -> service.Principal | None:
    """The signed-in user of this browser, refreshing the session when its access token has expired."""
    access = request.cookies.get(ACCESS_COOKIE)
    # only the access tokens this module stores: an API token is for scripts, never a browser session
    if access and len(access) <= 4096 and not access.startswith(f"{TOKEN_SCHEME}_"):
        try:
            return service.authenticate_bearer(session, access)
        except service.NotAuthenticatedError:
            pass
    token = request.cookies.get(REFRESH_COOKIE)
    if not token or len(token) > 1024:
        return None
    pair = _refreshed(request, session, token)
    if pair is None:
        _forget_session(request)
        return None
    _store_pair(request, pair)
    try:
        return service.authenticate_bearer(session, pair.access_token)
    except service.NotAuthenticatedError:
        return None
