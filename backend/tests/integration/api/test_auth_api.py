"""Sign-in, refresh rotation, logout, lockout, API tokens and JWT tampering, over HTTP."""

from __future__ import annotations

import base64
import json

from sqlalchemy import create_engine, text

from tests.integration.api.conftest import PASSWORD, Api


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_login_me_refresh_rotation_reuse_and_logout(api: Api) -> None:
    pair = api.client.post("/api/v1/auth/login", json={"username": "analyst", "password": PASSWORD}).json()
    me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["username"] == "analyst" and me.json()["role"] == "analyst"

    rotated = api.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    successor = rotated.json()["refresh_token"]
    assert successor != pair["refresh_token"]
    # using the first token again is theft: refused, and the successor dies with it
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": successor}).status_code == 401

    again = api.client.post("/api/v1/auth/login", json={"username": "analyst", "password": PASSWORD}).json()
    assert api.client.post("/api/v1/auth/logout", json={"refresh_token": again["refresh_token"]}).status_code == 204
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": again["refresh_token"]}).status_code == 401


def test_wrong_password_and_unknown_user_look_the_same_then_lock(api: Api) -> None:
    wrong = api.client.post("/api/v1/auth/login", json={"username": "viewer", "password": "nope"})
    unknown = api.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    for _ in range(6):
        last = api.client.post("/api/v1/auth/login", json={"username": "viewer", "password": "nope"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0
    # locked even with the right password, until the lock runs out
    assert api.client.post("/api/v1/auth/login", json={"username": "viewer", "password": PASSWORD}).status_code == 429
    engine = create_engine(api.url)
    with engine.connect() as connection:
        actions = [row[0] for row in connection.execute(text("SELECT action FROM audit_logs ORDER BY id"))]
        stored = json.dumps([list(map(str, r)) for r in connection.execute(text("SELECT * FROM audit_logs"))])
    engine.dispose()
    assert "login_failure" in actions and "login_locked" in actions
    assert PASSWORD not in stored and '"nope"' not in stored


def test_forged_tokens_are_refused(api: Api) -> None:
    headers = api.as_role(api_role := __import__("app.db.enums", fromlist=["UserRole"]).UserRole.ADMIN)
    assert api_role.value == "admin"
    token = headers["Authorization"].split()[1]
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "changed role": f"{head}.{_b64({**claims, 'role': 'admin', 'sub': '2'})}.{signature}",
        "wrong audience": f"{head}.{_b64({**claims, 'aud': 'someone-else'})}.{signature}",
        "expired": f"{head}.{_b64({**claims, 'exp': 1})}.{signature}",
        "garbage": "not-a-token",
    }
    for name, value in forged.items():
        answer = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {value}"})
        assert answer.status_code == 401, name


def test_api_tokens_shown_once_capped_and_revocable(api: Api) -> None:
    from app.db.enums import UserRole

    analyst = api.as_role(UserRole.ANALYST)
    created = api.client.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=analyst)
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("sai_") and created.json()["prefix"] in token
    listed = api.client.get("/api/v1/tokens", headers=analyst).json()
    assert token not in json.dumps(listed) and listed[0]["prefix"] == created.json()["prefix"]
    as_ci = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/targets", headers=as_ci).status_code == 200  # viewer may read
    assert api.client.post("/api/v1/targets", json={}, headers=as_ci).status_code == 403  # the ceiling holds
    above = api.client.post("/api/v1/tokens", json={"name": "x", "role": "admin"}, headers=analyst)
    assert above.status_code == 403
    assert api.client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=analyst).status_code == 204
    assert api.client.get("/api/v1/targets", headers=as_ci).status_code == 401
    engine = create_engine(api.url)
    with engine.connect() as connection:
        dump = json.dumps([list(map(str, r)) for r in connection.execute(text("SELECT * FROM api_tokens"))])
    engine.dispose()
    assert token not in dump and token.split("_")[-1] not in dump
