"""Administration in the dashboard: users and roles, API tokens shown once, the audit log and its check."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from app.db.enums import UserRole
from tests.integration.web.conftest import PASSWORD, Web, soup


def _user_id(web: Web, username: str) -> int:
    engine = create_engine(web.url)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar_one()
    engine.dispose()
    return int(found)


def test_an_admin_creates_promotes_and_disables_a_user(web: Web) -> None:
    admin = web.signed_in(UserRole.ADMIN)
    weak = admin.post(
        "/users", {"username": "dana", "email": "dana@example.org", "password": "short", "role": "analyst"}
    )
    assert weak.status_code == 422 and soup(weak).select_one(".alert") is not None
    assert soup(weak).find("input", {"name": "email"})["value"] == "dana@example.org"
    created = admin.post(
        "/users", {"username": "dana", "email": "dana@example.org", "password": PASSWORD, "role": "viewer"}
    )
    assert created.status_code == 200 and "User dana created (viewer)." in created.text
    again = admin.post("/users", {"username": "dana", "email": "d2@example.org", "password": PASSWORD})
    assert again.status_code == 409

    dana = web.browser()
    assert dana.post("/login", {"username": "dana", "password": PASSWORD}).status_code == 303
    assert dana.get("/scans/new").status_code == 403
    dana_id = _user_id(web, "dana")
    promoted = admin.post(f"/users/{dana_id}", {"role": "analyst"})
    assert promoted.status_code == 200 and "dana: analyst, active." in promoted.text
    assert dana.get("/scans/new").status_code == 303  # a role change ends the sessions issued before it
    assert dana.post("/login", {"username": "dana", "password": PASSWORD}).status_code == 303
    assert dana.get("/scans/new").status_code == 200  # signed in again, with the new role

    disabled = admin.post(f"/users/{dana_id}", {"active": "false"})
    assert "dana: analyst, disabled." in disabled.text
    assert dana.get("/").status_code == 303  # signed out at once
    admin_id = _user_id(web, "admin")
    last = admin.post(f"/users/{admin_id}", {"role": "viewer"})
    assert last.status_code == 409 and soup(last).select_one(".alert") is not None  # the last admin stays


def test_an_api_token_is_shown_once_and_works_until_revoked(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    page = soup(analyst.get("/tokens"))
    assert {o["value"] for o in page.select("select#role option")} == {"analyst", "viewer"}  # never above the role
    created = analyst.post("/tokens", {"name": "github-actions", "role": "viewer", "expires_in_days": "30"})
    token = soup(created).select_one("[data-token-once]").get_text(strip=True)
    assert token.startswith("sai_")
    listing = analyst.get("/tokens").text
    assert token not in listing and "github-actions" in listing
    api_client = analyst.client  # the same server's API, with the token instead of the cookies
    me = api_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "viewer"
    higher = analyst.post("/tokens", {"name": "too-much", "role": "admin"})
    assert higher.status_code == 403 and soup(higher).select_one(".alert") is not None
    token_id = int(soup(analyst.get("/tokens")).select_one("form[action$='/revoke']")["action"].split("/")[2])
    assert analyst.post(f"/tokens/{token_id}/revoke").status_code == 303
    assert api_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_audit_log_lists_records_and_verifies_the_chain(web: Web) -> None:
    auditor = web.signed_in(UserRole.AUDITOR)
    rows = soup(auditor.get("/audit")).select("tbody tr")
    assert rows and "login_success" in rows[0].get_text()
    verified = auditor.get("/audit/verify", headers={"HX-Request": "true"})
    assert soup(verified).select_one('[data-verify="ok"]') is not None
    engine = create_engine(web.url)
    if (
        engine.dialect.name == "sqlite"
    ):  # PostgreSQL's trigger refuses the edit itself (tests/integration/test_audit_log.py)
        with engine.begin() as connection:
            connection.execute(text("UPDATE audit_logs SET action = 'nothing_happened' WHERE id = 1"))
        broken = soup(auditor.get("/audit/verify", headers={"HX-Request": "true"}))
        assert broken.select_one('[data-verify="broken"]') is not None and "#1" in broken.get_text()
    engine.dispose()
    assert web.signed_in(UserRole.ANALYST).get("/audit").status_code == 403
