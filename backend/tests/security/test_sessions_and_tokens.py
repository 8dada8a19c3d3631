"""Sessions and tokens end when they must: a disable, a role change or a password reset kills every access token,
refresh token and dashboard session issued before it (also once the account is enabled again); a demoted user's
API tokens never get their old power back; the dashboard shares one refresh only within one browser session;
an administrator lists and revokes anyone's API tokens."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db.enums import UserRole
from app.db.models import AuditLog, RefreshToken
from app.web.session import ACCESS_COOKIE, BINDING_COOKIE, REFRESH_COOKIE
from tests.conftest import replace_cookie, run_cli
from tests.integration.api.conftest import PASSWORD, Api
from tests.integration.web.conftest import Web, soup


def _rows(url: str, model: Any) -> list[Any]:
    engine = create_engine(url)
    with Session(engine) as session:
        rows = list(session.scalars(select(model).order_by(model.id)))
    engine.dispose()
    return rows


def _user_id(api: Api, admin: dict[str, str], username: str) -> int:
    users = api.client.get("/api/v1/users", headers=admin).json()
    return next(user["id"] for user in users if user["username"] == username)


def _session_of(api: Api, username: str) -> tuple[dict[str, str], str]:
    answer = api.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}, answer.json()["refresh_token"]


def _still_works(api: Api, headers: dict[str, str], refresh_token: str) -> tuple[int, int]:
    me = api.client.get("/api/v1/auth/me", headers=headers).status_code
    refreshed = api.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token}).status_code
    return me, refreshed


def test_a_re_enabled_users_old_tokens_stay_dead(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    analyst_id = _user_id(api, admin, "analyst")
    headers, refresh_token = _session_of(api, "analyst")
    assert api.client.get("/api/v1/auth/me", headers=headers).status_code == 200

    assert api.client.patch(f"/api/v1/users/{analyst_id}", json={"is_active": False}, headers=admin).status_code == 200
    assert api.client.patch(f"/api/v1/users/{analyst_id}", json={"is_active": True}, headers=admin).status_code == 200

    assert _still_works(api, headers, refresh_token) == (401, 401)
    assert api.client.get("/api/v1/auth/me", headers=api.login("analyst")).status_code == 200  # signs in afresh


def test_a_role_change_ends_the_sessions_issued_before_it(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    analyst_id = _user_id(api, admin, "analyst")
    headers, refresh_token = _session_of(api, "analyst")
    for role in ("viewer", "analyst"):  # down and back up: nothing issued before comes back
        changed = api.client.patch(f"/api/v1/users/{analyst_id}", json={"role": role}, headers=admin)
        assert changed.status_code == 200, changed.text
    assert _still_works(api, headers, refresh_token) == (401, 401)
    fresh = api.login("analyst")
    assert api.client.get("/api/v1/auth/me", headers=fresh).json()["role"] == "analyst"


def test_a_password_reset_ends_the_sessions_issued_before_it_even_within_the_same_second(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    viewer_id = _user_id(api, admin, "viewer")
    headers, refresh_token = _session_of(api, "viewer")
    reset = api.client.post(
        f"/api/v1/users/{viewer_id}/reset-password", json={"password": "a-new-long-passphrase-77"}, headers=admin
    )
    assert reset.status_code == 204, reset.text
    assert _still_works(api, headers, refresh_token) == (401, 401)


def test_a_demoted_users_api_token_does_not_get_its_power_back(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    created = api.client.post(
        "/api/v1/users",
        json={"username": "boss", "email": "boss@example.org", "password": PASSWORD, "role": "admin"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    boss_id = created.json()["id"]
    token = api.client.post("/api/v1/tokens", json={"name": "ci", "role": "admin"}, headers=api.login("boss")).json()[
        "token"
    ]
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/users", headers=bearer).status_code == 200

    assert api.client.patch(f"/api/v1/users/{boss_id}", json={"role": "viewer"}, headers=admin).status_code == 200
    assert api.client.get("/api/v1/users", headers=bearer).status_code == 403
    assert api.client.patch(f"/api/v1/users/{boss_id}", json={"role": "admin"}, headers=admin).status_code == 200

    assert api.client.get("/api/v1/users", headers=bearer).status_code == 403  # the token stays a viewer's
    assert api.client.get("/api/v1/auth/me", headers=bearer).json()["role"] == "viewer"
    listed = api.client.get(f"/api/v1/users/{boss_id}/tokens", headers=admin).json()
    assert [entry["role"] for entry in listed] == ["viewer"]


def test_an_admin_lists_and_revokes_another_users_api_tokens(api: Api) -> None:
    admin, analyst = api.as_role(UserRole.ADMIN), api.as_role(UserRole.ANALYST)
    analyst_id = _user_id(api, admin, "analyst")
    made = api.client.post("/api/v1/tokens", json={"name": "leaked", "role": "viewer"}, headers=analyst).json()
    bearer = {"Authorization": f"Bearer {made['token']}"}

    listed = api.client.get(f"/api/v1/users/{analyst_id}/tokens", headers=admin)
    assert listed.status_code == 200
    assert [(entry["id"], entry["prefix"], entry["user_id"]) for entry in listed.json()] == [
        (made["id"], made["prefix"], analyst_id)
    ]
    assert made["token"] not in listed.text and "token_hash" not in listed.text
    for role in (UserRole.ANALYST, UserRole.AUDITOR, UserRole.VIEWER):
        assert api.client.get(f"/api/v1/users/{analyst_id}/tokens", headers=api.as_role(role)).status_code == 403
    # another non-admin cannot revoke it (answered as an unknown id), the admin can
    assert api.client.delete(f"/api/v1/tokens/{made['id']}", headers=api.as_role(UserRole.AUDITOR)).status_code == 404
    assert api.client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    assert api.client.delete(f"/api/v1/tokens/{made['id']}", headers=admin).status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    revoked = [row for row in _rows(api.url, AuditLog) if row.action == "api_token_revoke"]
    assert revoked[-1].resource_id == made["id"] and revoked[-1].details["owner_id"] == analyst_id
    assert revoked[-1].user_id == _user_id(api, admin, "admin")
    assert api.client.get(f"/api/v1/users/{analyst_id}/tokens", headers=admin).json()[0]["revoked_at"] is not None


def test_the_dashboard_admin_revokes_another_users_token(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    created = analyst.post("/tokens", {"name": "ci", "role": "viewer", "expires_in_days": "30"})
    token = soup(created).select_one("[data-token-once]").get_text(strip=True)
    admin = web.signed_in(UserRole.ADMIN)
    row = admin.page("/users").select_one(f'tr[data-token-prefix="{token.split("_")[1]}"]')
    assert row is not None and "analyst" in row.get_text() and token not in str(row)
    action = row.find("form")["action"]
    assert admin.post(action).status_code == 303
    assert analyst.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert admin.page("/users").select_one(f'tr[data-token-prefix="{token.split("_")[1]}"]') is None
    # an analyst cannot use the admin's form
    other = analyst.post("/tokens", {"name": "ci2", "role": "viewer", "expires_in_days": "30"})
    second = soup(other).select_one("[data-token-once]").get_text(strip=True)
    listed = admin.page("/users").select_one(f'tr[data-token-prefix="{second.split("_")[1]}"]')
    assert analyst.post(listed.find("form")["action"]).status_code == 403


def test_a_disabled_and_re_enabled_users_dashboard_session_stays_ended(web: Web) -> None:
    viewer = web.signed_in(UserRole.VIEWER)
    assert viewer.get("/scans").status_code == 200
    admin = web.signed_in(UserRole.ADMIN)
    users = admin.page("/users")
    viewer_id = next(
        form["action"].rsplit("/", 1)[1]
        for form in users.select('form[action^="/users/"]')
        if form.find("select", {"aria-label": "role of viewer"})
    )
    assert admin.post(f"/users/{viewer_id}", {"active": "false"}).status_code == 200
    assert admin.post(f"/users/{viewer_id}", {"active": "true"}).status_code == 200
    assert viewer.get("/scans").status_code == 303  # access cookie refused, refresh cookie revoked: sign in again


def test_a_replayed_refresh_cookie_from_another_browser_revokes_the_session(web: Web) -> None:
    browser = web.signed_in(UserRole.VIEWER)
    used = browser.client.cookies[REFRESH_COOKIE]
    replace_cookie(browser.client, ACCESS_COOKIE, "expired.or.garbage")
    assert browser.get("/scans").status_code == 200  # rotated: `used` is spent, its successor shared for a while
    assert browser.client.cookies[REFRESH_COOKIE] != used

    thief = web.signed_in(UserRole.AUDITOR)  # a browser session of its own, with its own binding cookie
    replace_cookie(thief.client, ACCESS_COOKIE, "expired.or.garbage")
    replace_cookie(thief.client, REFRESH_COOKIE, used)
    assert thief.get("/scans").status_code == 303  # not handed the viewer's fresh pair

    viewer_tokens = [row for row in _rows(web.url, RefreshToken) if row.user_id == 4]
    assert viewer_tokens and all(row.revoked_at is not None for row in viewer_tokens)  # the family is revoked
    assert "refresh_token_reuse" in [row.action for row in _rows(web.url, AuditLog)]
    replace_cookie(browser.client, ACCESS_COOKIE, "expired.or.garbage")
    assert browser.get("/scans").status_code == 303  # the copied session ended for both, as in the API


def test_a_replayed_refresh_cookie_alone_revokes_the_session(web: Web) -> None:
    browser = web.signed_in(UserRole.VIEWER)
    used = browser.client.cookies[REFRESH_COOKIE]
    replace_cookie(browser.client, ACCESS_COOKIE, "expired.or.garbage")
    assert browser.get("/scans").status_code == 200
    fresh = browser.client.cookies[REFRESH_COOKIE]

    bare = web.browser()  # only the copied (used) refresh cookie, within the sharing window
    replace_cookie(bare.client, REFRESH_COOKIE, used)
    assert bare.get("/scans").status_code == 303
    assert all(row.revoked_at is not None for row in _rows(web.url, RefreshToken) if row.user_id == 4)
    assert "refresh_token_reuse" in [row.action for row in _rows(web.url, AuditLog)]
    unused = web.browser()  # and a live refresh cookie alone is not refreshed by the dashboard either
    replace_cookie(unused.client, REFRESH_COOKIE, fresh)
    assert unused.get("/scans").status_code == 303


def test_the_binding_cookie_is_http_only_and_goes_with_the_session(web: Web) -> None:
    browser = web.browser()
    signed = browser.post("/login", {"username": "viewer", "password": PASSWORD, "next": "/"})
    binding = [header for header in signed.headers.get_list("set-cookie") if header.startswith(BINDING_COOKIE)]
    assert len(binding) == 1 and "HttpOnly" in binding[0] and "SameSite=strict" in binding[0]
    assert browser.post("/logout").status_code == 303
    assert BINDING_COOKIE not in browser.client.cookies


def test_the_cli_lists_and_revokes_another_users_api_token(api: Api) -> None:
    made = api.client.post(
        "/api/v1/tokens", json={"name": "nightly", "role": "viewer"}, headers=api.as_role(UserRole.ANALYST)
    ).json()
    bearer = {"Authorization": f"Bearer {made['token']}"}
    env = {"DATABASE_URL": api.url}
    listed = run_cli("secureai", "users", "tokens", "analyst", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [(entry["id"], entry["prefix"]) for entry in json.loads(listed.stdout)] == [(made["id"], made["prefix"])]
    assert made["token"] not in listed.stdout
    revoked = run_cli("secureai", "users", "revoke-token", str(made["id"]), env=env)
    assert revoked.returncode == 0 and made["prefix"] in revoked.stdout, revoked.stderr
    assert api.client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    unknown = run_cli("secureai", "users", "revoke-token", "999999", env=env)
    assert unknown.returncode == 1 and "no API token with id 999999" in unknown.stderr
    # the revocation, then the refused use of the token afterwards
    assert [row.action for row in _rows(api.url, AuditLog)][-2:] == ["api_token_revoke", "auth_refused"]
