"""Stateful http targets on the platform: stored with a sealed key, checked by the target doctor, scanned as a job
with a multi-turn strategy, every conversation in its own server session; session URLs cannot take the key
elsewhere, and litellm targets are refused."""

from __future__ import annotations

from typing import Any

from app.db.enums import UserRole
from tests.integration.api.conftest import Api
from tests.integration.engine.stateful_double import running_chat_app

SECRET = "sk-stateful-platform-7f3e91"


def _settings(base: str) -> dict[str, Any]:
    return {
        "type": "http",
        "base_url": base + "/chat",
        "request_template": {"message": "{{prompt}}"},
        "response_path": "$.reply",
        "session": {
            "start": {"url": base + "/sessions?via=header"},
            "id_from": "header",
            "id": "X-Conversation",
            "header": "X-Conversation",
            "end": {"url": base + "/sessions/{{session_id}}", "method": "DELETE"},
        },
    }


def test_a_stateful_target_is_checked_and_scanned_through_the_api_and_cannot_leak_its_key(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_chat_app() as (chat, base):
        created = api.client.post(
            "/api/v1/targets",
            json={"name": "stateful chat", "settings": _settings(base), "api_key": SECRET},
            headers=analyst,
        )
        assert created.status_code == 201, created.text
        target = created.json()
        checks = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
        assert checks.status_code == 200, checks.text
        session = {check["name"]: check for check in checks.json()}["session"]
        assert session["level"] == "ok", session
        assert "two turns kept in one session, ended" in session["message"]
        checked = len(chat.sessions)
        started = api.client.post(
            "/api/v1/scans",
            json={"target_id": target["id"], "probes": "id:spl.repeat_verbatim", "strategies": "none,escalation"},
            headers=analyst,
        )
        assert started.status_code == 202, started.text
        scan = api.wait_for_scan(started.json()["id"], analyst)
    assert scan["status"] == "completed", scan
    assert scan["summary"]["attempts"] == scan["attempts_planned"] > 0
    assert scan["summary"]["outcomes"].get("error", 0) == 0, scan["summary"]
    scanned = list(chat.sessions.values())[checked:]
    turns = sorted(len([m for m in history if m["role"] == "user"]) for history in scanned)
    assert turns[-1] > 1  # escalation's conversations went on in their sessions, turn after turn
    assert sorted(chat.ended) == sorted(chat.sessions) and chat.turns_without_session == 0
    # the sealed key went with every request (session starts, turns and ends), and never came back out
    assert set(chat.authorizations) == {f"Bearer {SECRET}"}
    assert SECRET not in checks.text and SECRET not in api.client.get("/api/v1/targets", headers=analyst).text

    # a session url elsewhere would take the sealed key there; litellm targets would use the server's own cloud
    # credentials outside the egress policy
    settings = _settings("http://127.0.0.1:9")
    settings["session"]["start"]["url"] = "http://127.0.0.2:9/sessions"
    moved = api.client.post("/api/v1/targets", json={"name": "leaky", "settings": settings}, headers=analyst)
    assert moved.status_code == 422
    assert "a session url must be on base_url's scheme, host and port" in moved.json()["detail"]
    litellm = api.client.post(
        "/api/v1/targets",
        json={"name": "bedrock", "settings": {"type": "litellm", "model": "bedrock/x"}},
        headers=analyst,
    )
    assert litellm.status_code == 422 and "litellm targets" in litellm.json()["detail"]
