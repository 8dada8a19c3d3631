"""Signing in and out of the dashboard: cookies, CSRF, refresh, lockout and the audit trail behind them."""

from __future__ import annotations

import threading
from http.cookies import SimpleCookie

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db.enums import UserRole
from app.db.models import AuditLog, RefreshToken
from app.web.session import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from app.web.templating import WEB_CSP
from tests.conftest import replace_cookie
from tests.integration.web.conftest import PASSWORD, Web, soup


def _actions(url: str) -> list[str]:
    engine = create_engine(url)
    with Session(engine) as session:
        actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    engine.dispose()
    return actions


def test_a_page_needs_a_session_and_the_sign_in_comes_back_to_it(web: Web) -> None:
    browser = web.browser()
    first = browser.get("/findings?owasp=LLM01")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/findings%3Fowasp%3DLLM01"
    htmx = browser.get("/scans", headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/login?next=/scans"
    form = soup(browser.get("/login?next=/findings?owasp=LLM01")).find("form")
    assert form is not None and form.find("input", {"name": "next"})["value"] == "/findings?owasp=LLM01"

    signed = browser.post("/login", {"username": "analyst", "password": PASSWORD, "next": "/findings?owasp=LLM01"})
    assert signed.status_code == 303 and signed.headers["location"] == "/findings?owasp=LLM01"
    cookies = SimpleCookie()
    for header in signed.headers.get_list("set-cookie"):
        cookies.load(header)
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        assert cookies[name]["httponly"] and cookies[name]["samesite"] == "strict" and cookies[name]["path"] == "/"
    page = browser.get("/findings?owasp=LLM01")
    assert page.status_code == 200 and page.headers["content-security-policy"] == WEB_CSP
    assert "analyst · analyst" in page.text
    assert "login_success" in _actions(web.url)


def test_next_cannot_send_the_browser_elsewhere(web: Web) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        browser = web.browser()
        signed = browser.post("/login", {"username": "viewer", "password": PASSWORD, "next": target})
        assert signed.status_code == 303 and signed.headers["location"] == "/", target


def test_wrong_passwords_are_refused_counted_and_locked_out(web: Web) -> None:
    browser = web.browser()
    wrong = browser.post("/login", {"username": "viewer", "password": "not-the-password"})
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
    assert ACCESS_COOKIE not in browser.client.cookies
    assert soup(wrong).find("input", {"name": "username"})["value"] == "viewer"  # kept; the password is not
    empty = browser.post("/login", {"username": "", "password": ""})
    assert empty.status_code == 422 and "Enter your username and password." in empty.text
    locked = None
    for _ in range(10):
        locked = browser.post("/login", {"username": "viewer", "password": "still-wrong"})
        if locked.status_code == 429:
            break
    assert locked is not None and locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in locked.text
    actions = _actions(web.url)
    assert "login_failure" in actions and "login_locked" in actions


def test_a_form_without_the_csrf_token_changes_nothing(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    settings = {"name": "forged", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    forged = analyst.client.post("/targets", data=settings, headers={"accept": "text/html"})
    assert forged.status_code == 403 and "reload the page" in forged.text
    wrong = analyst.client.post("/targets", data={**settings, "csrf_token": "x" * 43}, headers={"accept": "text/html"})
    assert wrong.status_code == 403
    assert "forged" not in analyst.get("/targets").text
    # a sign-in request forged from elsewhere (login CSRF) is refused as well
    fresh = web.browser()
    assert fresh.client.post("/login", data={"username": "viewer", "password": PASSWORD}).status_code == 403


def test_an_expired_access_cookie_is_refreshed_once_even_by_concurrent_requests(web: Web) -> None:
    browser = web.signed_in(UserRole.VIEWER)
    refresh_before = browser.client.cookies[REFRESH_COOKIE]
    replace_cookie(browser.client, ACCESS_COOKIE, "expired.or.garbage")
    statuses: list[int] = []

    def load() -> None:
        statuses.append(browser.get("/scans").status_code)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4  # none of them was taken for a replayed refresh token
    assert browser.client.cookies[REFRESH_COOKIE] != refresh_before
    assert browser.get("/").status_code == 200
    engine = create_engine(web.url)
    with Session(engine) as session:
        revoked = session.scalars(select(RefreshToken).where(RefreshToken.revoked_at.is_not(None))).all()
    engine.dispose()
    assert revoked == []
    assert "refresh_token_reuse" not in _actions(web.url)


def test_an_api_token_in_a_cookie_is_not_a_session(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    created = analyst.post("/tokens", {"name": "ci", "role": "viewer", "expires_in_days": "30"})
    token = soup(created).select_one("[data-token-once]").get_text(strip=True)
    assert token.startswith("sai_")
    stranger = web.browser()
    replace_cookie(stranger.client, ACCESS_COOKIE, token)
    assert stranger.get("/").status_code == 303


def test_signing_out_ends_the_session_everywhere_it_was_copied(web: Web) -> None:
    browser = web.signed_in(UserRole.AUDITOR)
    copied = dict(browser.client.cookies.items())
    out = browser.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert browser.get("/").status_code == 303
    thief = web.browser()
    replace_cookie(thief.client, REFRESH_COOKIE, copied[REFRESH_COOKIE])
    assert thief.get("/").status_code == 303  # the refresh token was revoked with the sign-out
    assert _actions(web.url)[-1] == "logout"
