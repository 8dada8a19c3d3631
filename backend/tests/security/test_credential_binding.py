"""Stored credentials stay bound to the endpoint they were entered for (issue 11, "High").

The attack: an analyst changes only where a target points (its URL, port, type...) to a listener of theirs and
then tests or scans the target; the server used to send the sealed key and secret headers there. Every test
here runs the attack through the real interface (HTTP API or dashboard form) against recording listeners on
127.0.0.1 and checks what arrived where.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from app.db.enums import UserRole
from tests.integration.api.conftest import Api
from tests.integration.web.conftest import Web
from tests.security.listener import Listener, listening

KEY = "sk-bound-key-5f1e0c7a9b"
HEADER_SECRET = "gw-bound-secret-77c3a1"


@pytest.fixture(autouse=True)
def _loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests' listeners are on 127.0.0.1: let the platform's egress policy reach loopback."""
    monkeypatch.setenv("SECUREAI_TARGET_ALLOW", "127.0.0.0/8")


def _create(api: Api, headers: dict[str, str], settings: dict[str, Any], **secrets: Any) -> dict[str, Any]:
    body = {"name": f"bot-{len(api.client.get('/api/v1/targets', headers=headers).json()['items'])}"}
    answer = api.client.post("/api/v1/targets", json={**body, "settings": settings, **secrets}, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _leaked(listener: Listener) -> bool:
    seen = listener.everything()
    return KEY in seen or HEADER_SECRET in seen


def _audit(api: Api, action: str) -> list[dict[str, Any]]:
    auditor = api.as_role(UserRole.AUDITOR)
    items = api.client.get("/api/v1/audit?limit=200", headers=auditor).json()["items"]
    return [item for item in items if item["action"] == action]


def _openai(url: str) -> dict[str, Any]:
    return {"type": "openai", "model": "m", "base_url": f"{url}/v1"}


def _http(url: str) -> dict[str, Any]:
    return {
        "type": "http",
        "base_url": f"{url}/chat",
        "request_template": {"input": "{{prompt}}"},
        "response_path": "$.output",
    }


# Each way of moving a target from the owner's listener to the attacker's: (settings before, settings after).
Settings = dict[str, Any]
MOVES: dict[str, tuple[Callable[[str], Settings], Callable[[str, str], Settings]]] = {
    "base_url to another port": (_openai, lambda own, other: _openai(other)),
    "openai to http on another port": (_openai, lambda own, other: _http(other)),
    "http to another port": (_http, lambda own, other: _http(other)),
    "ollama default to a base_url": (
        lambda own: {"type": "ollama", "model": "m"},
        lambda own, other: {"type": "ollama", "model": "m", "base_url": other},
    ),
    "anthropic default to a base_url": (
        lambda own: {"type": "anthropic", "model": "m"},
        lambda own, other: {"type": "anthropic", "model": "m", "base_url": other},
    ),
}


@pytest.mark.parametrize("move", list(MOVES))
def test_moving_a_target_drops_its_credentials_before_anything_is_sent(api: Api, move: str) -> None:
    before, after = MOVES[move]
    analyst = api.as_role(UserRole.ANALYST)
    admin = api.as_role(UserRole.ADMIN)
    with listening() as own, listening() as attacker:
        target = _create(api, admin, before(own.url), api_key=KEY, secret_headers={"X-Gateway-Key": HEADER_SECRET})
        assert target["has_credentials"] is True

        moved = api.client.patch(
            f"/api/v1/targets/{target['id']}", json={"settings": after(own.url, attacker.url)}, headers=analyst
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["credentials_dropped"] is True
        assert moved.json()["has_credentials"] is False

        tested = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
        assert tested.status_code == 200, tested.text
        assert attacker.requests, "the test reached the new address"
        assert not _leaked(attacker), attacker.everything()
        assert "authorization" not in {name for r in attacker.requests for name in r.headers}
        assert not own.requests
    change = _audit(api, "target_update")[0]["details"]
    assert change["credentials_dropped"] is True
    assert change["destination"]["from"] != change["destination"]["to"]
    assert str(attacker.port) in change["destination"]["to"]


def test_a_move_with_new_credentials_keeps_only_those(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with listening() as own, listening() as other:
        target = _create(api, analyst, _openai(own.url), api_key=KEY, secret_headers={"X-Gateway-Key": HEADER_SECRET})
        new_key = "sk-entered-for-the-new-place-123"
        moved = api.client.patch(
            f"/api/v1/targets/{target['id']}",
            json={"settings": _openai(other.url), "api_key": new_key},
            headers=analyst,
        )
        assert moved.status_code == 200 and moved.json()["credentials_dropped"] is False
        assert moved.json()["has_credentials"] is True
        tested = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
        assert tested.status_code == 200, tested.text
        assert other.requests and all(r.headers.get("authorization") == f"Bearer {new_key}" for r in other.requests)
        assert not _leaked(other), "the old secret header was entered for the old address"


def test_changes_that_keep_the_destination_keep_the_credentials(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with listening() as own:
        target = _create(api, analyst, _openai(own.url), api_key=KEY, secret_headers={"X-Gateway-Key": HEADER_SECRET})
        same_place = {**_openai(own.url), "base_url": f"{own.url}/other/v1", "model": "m2", "max_concurrency": 2}
        changed = api.client.patch(
            f"/api/v1/targets/{target['id']}", json={"name": "renamed", "settings": same_place}, headers=analyst
        )
        assert changed.status_code == 200 and changed.json()["credentials_dropped"] is False
        # a new key alone replaces the key and keeps the secret headers
        rekeyed = api.client.patch(f"/api/v1/targets/{target['id']}", json={"api_key": KEY}, headers=analyst)
        assert rekeyed.status_code == 200 and rekeyed.json()["has_credentials"] is True
        tested = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
        assert tested.status_code == 200, tested.text
        assert own.requests and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in own.requests)
        assert all(r.headers.get("x-gateway-key") == HEADER_SECRET for r in own.requests if r.method == "POST")
    checks = {check["name"]: check for check in tested.json()}
    assert checks["credentials"]["message"].startswith("sent (sealed key, sealed headers X-Gateway-Key)")
    assert KEY not in tested.text and HEADER_SECRET not in tested.text
    uses = _audit(api, "secret_use")
    assert uses and uses[0]["details"]["sent_to"] == f"openai http://127.0.0.1:{own.port}"
    assert "destination" not in _audit(api, "target_update")[0]["details"]


def test_the_dashboard_edit_form_drops_credentials_when_the_target_moves(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = web.signed_in(UserRole.ADMIN)
    analyst = web.signed_in(UserRole.ANALYST)
    with listening() as own, listening() as attacker:
        created = admin.post(
            "/targets",
            {
                "name": "support-bot",
                "type": "openai",
                "base_url": f"{own.url}/v1",
                "model": "m",
                "api_key": KEY,
                "secret_headers": f'{{"X-Gateway-Key": "{HEADER_SECRET}"}}',
            },
        )
        assert created.status_code == 303, created.text
        target_path = created.headers["location"]
        edited = analyst.post(
            target_path, {"name": "support-bot", "type": "openai", "base_url": f"{attacker.url}/v1", "model": "m"}
        )
        assert edited.status_code == 303, edited.text
        assert edited.headers["location"].endswith("?credentials=dropped")
        notice = analyst.get(edited.headers["location"]).text
        assert "stored credentials were removed" in notice
        tested = analyst.post(f"{target_path}/test", htmx=True)
        assert tested.status_code == 200, tested.text
        assert attacker.requests and not _leaked(attacker), attacker.everything()
        assert not own.requests


def test_credential_headers_in_plain_settings_are_sealed(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    viewer = api.as_role(UserRole.VIEWER)
    with listening() as own:
        settings = {
            **_openai(own.url),
            "headers": {"Authorization": f"Bearer {KEY}", "X-Team": "red", "X-Session-Token": HEADER_SECRET},
        }
        target = _create(api, analyst, settings)
        shown = api.client.get(f"/api/v1/targets/{target['id']}", headers=viewer)
        assert KEY not in shown.text and HEADER_SECRET not in shown.text
        assert shown.json()["settings"]["headers"] == {"X-Team": "red"}
        assert shown.json()["has_credentials"] is True
        tested = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
        assert tested.status_code == 200, tested.text
        posted = [r for r in own.requests if r.method == "POST"]
        assert posted and all(r.headers["authorization"] == f"Bearer {KEY}" for r in posted)
        assert all(r.headers["x-session-token"] == HEADER_SECRET and r.headers["x-team"] == "red" for r in posted)
        # the same through PATCH
        patched = api.client.patch(
            f"/api/v1/targets/{target['id']}",
            json={"settings": {**_openai(own.url), "headers": {"Cookie": "session=abc123secret"}}},
            headers=analyst,
        )
        assert patched.status_code == 200 and "abc123secret" not in patched.text


def test_a_key_with_a_trailing_newline_is_normalised_and_one_with_a_line_break_inside_refused(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with listening() as own:
        target = _create(api, analyst, _openai(own.url), api_key=f"{KEY}\n")
        tested = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
        assert tested.status_code == 200, tested.text
        assert {r.headers.get("authorization") for r in own.requests if r.method == "POST"} == {f"Bearer {KEY}"}
        broken = api.client.post(
            "/api/v1/targets",
            json={"name": "broken", "settings": _openai(own.url), "api_key": f"{KEY}\r\nX-Injected: 1"},
            headers=analyst,
        )
        assert broken.status_code == 422 and "line break" in broken.json()["detail"]
        assert KEY not in broken.text
        header = api.client.patch(
            f"/api/v1/targets/{target['id']}",
            json={"secret_headers": {"X-Gateway-Key": f"{HEADER_SECRET}\nX-Evil: 1"}},
            headers=analyst,
        )
        assert header.status_code == 422 and HEADER_SECRET not in header.text


def test_target_tests_hold_no_server_thread_and_are_limited_per_user(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty target tests wait on a listener that does not answer (as many as the server has worker threads):
    a viewer's request is still answered while they wait, and a user's tests beyond
    SECUREAI_TARGET_TESTS_PER_USER get 429 with Retry-After."""
    monkeypatch.setenv("SECUREAI_TARGET_TESTS_PER_USER", "20")
    from app.config import get_settings

    get_settings.cache_clear()
    users = [api.as_role(UserRole.ANALYST), api.as_role(UserRole.ADMIN)]
    viewer = api.as_role(UserRole.VIEWER)
    with listening() as silent:
        silent.hold = threading.Event()
        target = _create(api, users[0], {**_openai(silent.url), "timeout_s": 60, "max_retries": 0})
        path = f"/api/v1/targets/{target['id']}/test"
        statuses: list[int] = []
        waiting = [
            threading.Thread(target=lambda h=headers: statuses.append(api.client.post(path, headers=h).status_code))
            for headers in users
            for _ in range(20)
        ]
        for thread in waiting:
            thread.start()
        while len(silent.requests) < 40:  # every test has sent its first request and waits for the answer
            assert all(thread.is_alive() for thread in waiting), statuses
            silent.arrived.wait(0.2)
        over = api.client.post(path, headers=users[0])
        assert over.status_code == 429 and int(over.headers["retry-after"]) > 0
        assert over.headers["content-type"].startswith("application/problem+json")
        me: list[int] = []
        probe = threading.Thread(
            target=lambda: me.append(api.client.get("/api/v1/auth/me", headers=viewer).status_code)
        )
        probe.start()
        probe.join(30)
        answered_while_waiting = not probe.is_alive()
        silent.hold.set()
        for thread in [*waiting, probe]:
            thread.join(120)
    assert answered_while_waiting and me == [200], "a viewer waited for the target tests"
    assert statuses == [200] * 40
    assert api.client.post(path, headers=users[0]).status_code == 200, "slots are given back when tests end"


def test_a_credential_header_stored_in_the_clear_before_this_release_is_never_shown(api: Api) -> None:
    from sqlalchemy import create_engine, update
    from sqlalchemy.orm import Session

    from app.db.models import Target

    analyst = api.as_role(UserRole.ANALYST)
    with listening() as own:
        target = _create(api, analyst, _openai(own.url))
    engine = create_engine(api.url)
    with Session(engine) as session:  # as an earlier version stored it
        legacy = {**_openai(own.url), "headers": {"Authorization": f"Bearer {KEY}", "X-Team": "red"}}
        session.execute(update(Target).where(Target.id == target["id"]).values(settings=legacy))
        session.commit()
    engine.dispose()
    viewer = api.as_role(UserRole.VIEWER)
    shown = api.client.get(f"/api/v1/targets/{target['id']}", headers=viewer)
    listed = api.client.get("/api/v1/targets", headers=viewer)
    assert KEY not in shown.text and KEY not in listed.text
    assert shown.json()["settings"]["headers"]["X-Team"] == "red"
    # saving what was shown seals the real value, not the mask
    saved = api.client.patch(
        f"/api/v1/targets/{target['id']}", json={"settings": shown.json()["settings"]}, headers=analyst
    )
    assert saved.status_code == 200 and saved.json()["has_credentials"] is True
    assert "Authorization" not in saved.json()["settings"].get("headers", {})
    from app.crud.targets import credentials_of

    engine = create_engine(api.url)
    with Session(engine) as session:
        stored = session.get_one(Target, target["id"])
        assert credentials_of(stored)["headers"] == {"Authorization": f"Bearer {KEY}"}
        assert KEY not in str(stored.settings)
    engine.dispose()
