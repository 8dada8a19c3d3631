"""Input hardening through the real interfaces (issue 11): no request any signed-in user can make is a 5xx.

- malformed or huge cursors and ids, on every paginated API route and on the dashboard's lists and pages;
- NUL (and lone surrogates) anywhere in a request: PostgreSQL cannot store them, so one guard refuses them
  with a 422 naming the field, on SQLite and PostgreSQL alike, and nothing is written;
- names of targets, scans and API tokens holding control or invisible formatting characters (bidirectional
  overrides, zero-width characters...) are refused by the API and by the dashboard's forms.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.api.middleware import reject_unstorable_text
from app.db.enums import UserRole
from app.db.models import ApiToken, AuditLog, Scan, Target, User
from tests.integration.api.conftest import Api
from tests.integration.web.conftest import Web, soup

PROBLEM = "application/problem+json"
HUGE = "99999999999999999999"
TARGET_SETTINGS = {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}


def assert_problem(response: httpx.Response, status: int = 422, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status and "Traceback" not in response.text
    if field is not None:
        assert field in {error["field"] for error in body.get("errors", [])}, body
    return body


def counts(url: str) -> dict[str, int]:
    """Rows of the tables a refused request must not have written to."""
    engine = create_engine(url)
    with Session(engine) as session:
        found = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Target, Scan, ApiToken, User, AuditLog)
        }
    engine.dispose()
    return found


# ---- cursors and ids --------------------------------------------------------------------------------------

FINDINGS_CURSORS = [
    "[1,1e400]",
    "[1e400,1]",
    "[NaN,1]",
    "[-Infinity,1]",
    f"[0.5,{HUGE}]",
    "[0.5,-1]",
    "[0.5,1.5]",
    '[0.5,"1"]',
    "[true,1]",
    "[[1],1]",
    "[1]",
    "[1,2,3]",
    "{}",
    '"ab"',
    "nonsense",
    "[" * 90,
]


def test_a_malformed_findings_cursor_is_a_422_never_a_500(api: Api) -> None:
    viewer = api.as_role(UserRole.VIEWER)
    for sort in ("-asr", "asr", "-id", "id"):
        for cursor in FINDINGS_CURSORS:
            answer = api.client.get("/api/v1/findings", params={"cursor": cursor, "sort": sort}, headers=viewer)
            assert_problem(answer)
        good = api.client.get("/api/v1/findings", params={"cursor": "[0.5,1]", "sort": sort}, headers=viewer)
        assert good.status_code == 200, good.text


def test_every_paginated_route_refuses_a_malformed_cursor_with_a_422(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    for path in ("/api/v1/targets", "/api/v1/scans", "/api/v1/audit", "/api/v1/scans/1/findings", "/api/v1/findings"):
        for cursor in (HUGE, "-1", "1e400", "abc", "[1,1e400]", "1.5"):
            assert_problem(api.client.get(path, params={"cursor": cursor}, headers=admin))


def test_huge_ids_in_api_paths_and_queries_are_422(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    for path in (
        f"/api/v1/targets/{HUGE}",
        f"/api/v1/scans/{HUGE}",
        f"/api/v1/scans/{HUGE}/findings",
        f"/api/v1/scans/1/diff/{HUGE}",
        f"/api/v1/findings?scan_id={HUGE}",
        f"/api/v1/findings?target_id={HUGE}",
    ):
        assert_problem(api.client.get(path, headers=admin))


def test_dashboard_pages_answer_huge_ids_and_bad_cursors_with_a_4xx_page(web: Web) -> None:
    admin = web.signed_in(UserRole.ADMIN)
    for path in (
        f"/targets/{HUGE}",
        f"/targets/{HUGE}/edit",
        f"/scans/{HUGE}",
        f"/targets?cursor={HUGE}",
        f"/scans?cursor={HUGE}",
        f"/audit?cursor={HUGE}",
        "/targets?cursor=-1",
        f"/findings?offset={HUGE}",  # the findings workspace pages by offset
        "/findings?offset=-1",
        "/findings?sort=" + "x" * 50,
        f"/findings?target_id={HUGE}",
        f"/findings?scan_id={HUGE}",
        f"/compliance?target_id={HUGE}",
        f"/scans/new?target_id={HUGE}",
    ):
        answer = admin.get(path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "Traceback" not in answer.text
    started = admin.post("/scans", {"target_id": HUGE, "owasp": ["LLM07"]})
    assert started.status_code == 422 and started.headers["content-type"].startswith("text/html")


# ---- NUL and lone surrogates, on SQLite and PostgreSQL --------------------------------------------------


def test_nul_anywhere_in_an_api_request_is_a_422_naming_the_field_and_nothing_is_written(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    before = counts(api.url)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/v1/targets", {"name": "a\x00b", "settings": TARGET_SETTINGS}, "body.name"),
        (
            "POST",
            "/api/v1/targets",
            {"name": "t", "settings": {**TARGET_SETTINGS, "model": "m\x00"}},
            "body.settings.model",
        ),
        (
            "POST",
            "/api/v1/targets",
            {"name": "t", "settings": {**TARGET_SETTINGS, "headers": {"X-A": ["ok", "n\x00"]}}},
            "body.settings.headers.X-A.1",
        ),
        ("POST", "/api/v1/targets", {"name": "t", "settings": {**TARGET_SETTINGS, "k\x00": 1}}, "body.settings.k\\x00"),
        ("POST", "/api/v1/targets", {"name": "t", "settings": TARGET_SETTINGS, "api_key": "sk-\x00"}, "body.api_key"),
        ("PATCH", "/api/v1/targets/1", {"name": "x\x00"}, "body.name"),
        ("POST", "/api/v1/scans", {"target_id": 1, "name": "s\x00", "probes": "owasp:LLM07"}, "body.name"),
        ("POST", "/api/v1/scans", {"target_id": 1, "probes": "owasp:LLM07\x00"}, "body.probes"),
        ("POST", "/api/v1/tokens", {"name": "tok\x00", "role": "viewer"}, "body.name"),
        ("PUT", "/api/v1/findings/1/triage", {"state": "accepted_risk", "comment": "why\x00"}, "body.comment"),
        (
            "POST",
            "/api/v1/users",
            {"username": "eve\x00", "email": "eve@example.org", "password": "a-long-password-123456"},
            "body.username",
        ),
        (
            "POST",
            "/api/v1/users",
            {"username": "eve", "email": "eve@example.org", "password": "a-long-password-123456", "full_name": "E\x00"},
            "body.full_name",
        ),
        ("POST", "/api/v1/users/2/reset-password", {"password": "a-long-password\x00"}, "body.password"),
    ]
    for method, path, body, field in cases:
        answer = api.client.request(method, path, json=body, headers=admin)
        problem = assert_problem(answer, field=field)
        assert "\x00" not in answer.text and "sk-" not in answer.text, problem  # the value is never echoed
    login = api.client.post("/api/v1/auth/login", json={"username": "admin\x00", "password": "x"})
    assert_problem(login, field="body.username")
    assert_problem(api.client.get("/api/v1/findings", params={"owasp": "LLM\x00"}, headers=admin), field="query.owasp")
    assert_problem(api.client.get("/api/v1/targets/%00", headers=admin), field="path")
    # JSON can also carry an unpaired surrogate, which no UTF-8 column stores either
    surrogate = api.client.post(
        "/api/v1/targets",
        content=b'{"name": "t", "settings": {"type": "openai", "model": "\\ud800", "base_url": "http://x/v1"}}',
        headers={**admin, "content-type": "application/json"},
    )
    assert_problem(surrogate, field="body.settings.model")
    assert counts(api.url) == before


def test_a_nul_that_slips_past_the_guard_is_still_a_422_on_postgresql(api: Api) -> None:
    """The last line: with the guard switched off, PostgreSQL refuses the NUL (DataError), and the answer is
    a 422 problem+json with nothing written, not a 500."""
    if not api.url.startswith("postgresql"):
        pytest.skip("SQLite stores NUL; only PostgreSQL refuses it")
    admin = api.as_role(UserRole.ADMIN)
    before = counts(api.url)
    app = api.client.app
    app.dependency_overrides[reject_unstorable_text] = lambda: None  # type: ignore[attr-defined]
    try:
        answer = api.client.post(
            "/api/v1/users",
            json={"username": "eve\x00", "email": "eve@example.org", "password": "a-long-password-123456"},
            headers=admin,
        )
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
    body = assert_problem(answer)
    assert "eve" not in body["detail"]
    assert counts(api.url) == before


def test_nul_in_a_dashboard_form_or_query_is_a_422_page_and_nothing_is_written(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    before = counts(web.url)
    target = {"name": "bot\x00", "type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    for path, data in (
        ("/targets", target),
        ("/targets", {**target, "name": "bot", "system_prompt": "be nice\x00"}),
        ("/scans", {"target_id": "1", "owasp": ["LLM07"], "name": "n\x00"}),
        ("/tokens", {"name": "t\x00", "role": "viewer"}),
        ("/findings/1/triage", {"state": "accepted_risk", "comment": "c\x00"}),
    ):
        answer = analyst.post(path, data)
        assert answer.status_code == 422, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html") and "Traceback" not in answer.text
    assert analyst.get("/findings?owasp=LLM%00").status_code == 422
    sign_in = web.browser().post("/login", {"username": "analyst\x00", "password": "x", "next": "/"})
    assert sign_in.status_code == 422 and "Traceback" not in sign_in.text
    assert counts(web.url) == before


# ---- names: control and invisible formatting characters --------------------------------------------------

BAD_NAMES = {
    "right-to-left override": "invoice\u202egpj.exe",
    "left-to-right embedding": "a\u202ab",
    "pop directional formatting": "a\u202cb",
    "right-to-left isolate": "a\u2067b",
    "pop directional isolate": "a\u2069b",
    "right-to-left mark": "a\u200fb",
    "left-to-right mark": "a\u200eb",
    "zero width space": "prod\u200bbot",
    "zero width joiner": "a\u200db",
    "byte order mark": "\ufeffbot",
    "escape": "bot\x1b[31m",
    "newline": "bot\nfake line",
    "tab": "bot\tx",
    "delete": "bot\x7f",
    "C1 control": "bot\x85",
    "line separator": "bot\u2028x",
}


def test_the_api_refuses_control_and_bidi_characters_in_names(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    before = counts(api.url)
    for case, name in BAD_NAMES.items():
        for method, path, body in (
            ("POST", "/api/v1/targets", {"name": name, "settings": TARGET_SETTINGS}),
            ("PATCH", "/api/v1/targets/1", {"name": name}),
            ("POST", "/api/v1/scans", {"target_id": 1, "name": name, "probes": "owasp:LLM07"}),
            ("POST", "/api/v1/tokens", {"name": name, "role": "viewer"}),
        ):
            answer = api.client.request(method, path, json=body, headers=admin)
            problem = assert_problem(answer, field="body.name")
            assert "control or invisible formatting" in json.dumps(problem), (case, path, problem)
    assert counts(api.url) == before


def test_names_people_write_are_still_accepted(api: Api) -> None:
    admin = api.as_role(UserRole.ADMIN)
    for name in ("support-bot", "Kundendienst (Übersetzung)", "サポート", "دعم العملاء", "bot 🤖"):
        created = api.client.post("/api/v1/tokens", json={"name": f"  {name} ", "role": "viewer"}, headers=admin)
        assert created.status_code == 201, created.text
        assert created.json()["name"] == name  # surrounding whitespace trimmed, the rest kept


def test_the_dashboard_forms_refuse_control_and_bidi_characters_in_names(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    before = counts(web.url)
    for name in (BAD_NAMES["right-to-left override"], BAD_NAMES["zero width space"], BAD_NAMES["escape"]):
        target = analyst.post("/targets", {"name": name, "type": "openai", "model": "m", "base_url": "http://x/v1"})
        assert target.status_code == 422, target.text[:300]
        alert = soup(target).select_one(".alert")
        assert alert is not None and "control or invisible formatting" in alert.get_text()
        model = soup(target).find("input", {"name": "model"})
        assert model is not None and model["value"] == "m"  # the form keeps what was typed

        scan = analyst.post("/scans", {"target_id": "1", "owasp": ["LLM07"], "name": name})
        assert scan.status_code == 422 and "control or invisible formatting" in scan.text

        token = analyst.post("/tokens", {"name": name, "role": "viewer"})
        assert token.status_code == 422 and "control or invisible formatting" in token.text
    assert counts(web.url) == before
