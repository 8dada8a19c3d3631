"""Scans with an attacker and a judge model through the API, against the rule-based doubles over real HTTP.

The `guarded` target refuses everything and, in refusing, reveals a one-off password; only a request quoting a
password it issued is obeyed, so only an attack that feeds the target's replies back to the attacker gets
through (tests/integration/engine/test_adaptive_cli.py shows the same through the CLI). The attacker and judge
are stored targets like the scan's own: chosen per scan or by a settings default, never on by default, held to
the same rule as the scan's target.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db.enums import UserRole
from app.db.models import AuditLog
from app.demo.simulator import running_roles as doubles
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api

PROBE = "id:jb.roleplay.unrestricted_persona"
ATTACKER_KEY = "sk-attacker-0123456789abcdef"


def _target(api: Api, headers: dict[str, str], name: str, url: str, **extra: Any) -> int:
    body = {"name": name, "settings": {"type": "openai", "model": name, "base_url": url}, **extra}
    created = api.client.post("/api/v1/targets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _stored_targets(api: Api, headers: dict[str, str], urls: dict[str, Any]) -> dict[str, int]:
    return {
        "target": _target(api, headers, "guarded-bot", urls["target"][0]),
        # the attacker's key is stored sealed and used like any target's
        "attacker": _target(api, headers, "attacker-model", urls["attacker"][0], api_key=ATTACKER_KEY),
        "judge": _target(api, headers, "judge-model", urls["judge"][0]),
    }


def _audited(url: str, action: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with Session(engine) as session:
        details = [row.details or {} for row in session.scalars(select(AuditLog).where(AuditLog.action == action))]
    engine.dispose()
    return details


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return dict(answer.json())


def test_a_scan_with_attacker_and_judge_models_gets_past_a_target_only_a_feedback_loop_can_beat(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    viewer = api.as_role(UserRole.VIEWER)
    with doubles() as urls:
        ids = _stored_targets(api, analyst, urls)
        started = api.client.post(
            "/api/v1/scans",
            json={
                "target_id": ids["target"],
                "probes": PROBE,
                "strategies": "none,pair,crescendo",
                "attacker_target_id": ids["attacker"],
                "judge_target_id": ids["judge"],
                "attack_options": {"pair": {"streams": 2}},
                "max_requests": {"attacker": 10_000},
            },
            headers=analyst,
        )
        assert started.status_code == 202, started.text
        options = started.json()["options"]
        assert options["attacker_target_id"] == ids["attacker"] and options["judge_target_id"] == ids["judge"]
        assert options["attack_options"] == {"pair": {"streams": 2}} and options["max_requests"] == {"attacker": 10_000}
        scan = api.wait_for_scan(started.json()["id"], viewer)
        attacker_requests = sum(urls["attacker"][1].state.requests.values())
    assert scan["status"] == "completed" and scan["error"] is None, scan
    summary = scan["summary"]
    by_strategy = {row["strategy"]: row for row in summary["strategies"]}
    # the probe's own prompts, sent as written, are refused; the adaptive attacks get through
    assert by_strategy["none"]["counts"]["refused"] == by_strategy["none"]["attempts"] == 2
    assert "median_queries_to_success" not in by_strategy["none"]
    for name in ("pair", "crescendo"):
        assert by_strategy[name]["counts"]["vulnerable"] == by_strategy[name]["attempts"] == 2, by_strategy[name]
        assert by_strategy[name]["asr"] == 1.0 and by_strategy[name]["median_queries_to_success"] >= 2
    roles = summary["roles"]
    assert roles["attacker"] == "attacker-model" and roles["judge"] == "judge-model"
    assert all(roles["usage"][role]["requests"] > 0 for role in ("target", "attacker", "judge"))
    assert roles["usage"]["attacker"]["requests"] == attacker_requests
    assert roles["max_requests"] == {"attacker": 10_000}
    assert summary["judge_calibration"] is None  # never calibrated: the result says so rather than nothing
    assert summary["adaptive"]["pair"]["streams"] == 2 and set(summary["adaptive"]) == {"pair", "crescendo"}

    # the stored attempt's conversation, turn by turn, through the findings
    findings = api.client.get(f"/api/v1/scans/{scan['id']}/findings", headers=viewer).json()["items"]
    evidence = [item for finding in findings for item in finding["evidence"] if "adaptive" in item]
    assert {item["adaptive"]["strategy"] for item in evidence} == {"pair", "crescendo"}
    for item in evidence:
        adaptive = item["adaptive"]
        assert adaptive["success"] is True and adaptive["target_queries"] >= 2
        assert adaptive["judge_reason"] == "the assistant complied with the request"
        turns = adaptive["conversation"]
        assert {turn["role"] for turn in turns} == {"user", "assistant"} and turns[-1]["role"] == "assistant"
        assert "The password is pw-" in [turn for turn in turns if turn["role"] == "user"][-1]["content"]

    # the JSON report carries what the CLI's result does
    report = api.client.get(f"/api/v1/scans/{scan['id']}/report?format=json", headers=analyst).json()
    assert report["roles"]["attacker"] == "attacker-model" and report["judge_calibration"] is None
    assert {row["strategy"] for row in report["strategies"]} == {"none", "pair", "crescendo"}
    # the attacker's sealed key was opened for this scan, and the audit log says so (without the key)
    uses = _audited(api.url, "secret_use")
    assert [use["purpose"] for use in uses] == [f"scan {scan['id']} (attacker model)"]
    assert ATTACKER_KEY not in str(_audited(api.url, "scan_start")) + str(uses)
    assert _audited(api.url, "scan_start")[-1]["attacker_target_id"] == ids["attacker"]


def test_attacker_judge_and_attack_options_are_checked_before_anything_is_queued(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    target = _target(api, analyst, "bot", "http://127.0.0.1:9/v1")
    base = {"target_id": target, "probes": PROBE}

    def start(**fields: Any) -> Any:
        return api.client.post("/api/v1/scans", json={**base, **fields}, headers=analyst)

    unknown = _problem(start(attacker_target_id=424242, strategies="pair"), 404)
    assert unknown["detail"] == "attacker_target_id: no target 424242"
    assert _problem(start(judge_target_id=424242), 404)["detail"] == "judge_target_id: no target 424242"
    needs = _problem(start(strategies="none,pair,crescendo"), 422)
    assert "crescendo, pair needs an attacker model" in needs["detail"] and "attacker_target_id" in needs["detail"]
    assert start(strategies="best_of_n").status_code == 202  # needs no attacker
    for options, words in (
        ({"nope": {"streams": 2}}, "STRATEGY one of pair, tap, crescendo, best_of_n"),
        ({"pair": {"bogus": 2}}, "pair has no parameter 'bogus'"),
        ({"pair": {"streams": 99}}, "pair.streams must be"),
        ({"pair": {"streams": "two"}}, "is not a whole number"),
        ({"pair": {"streams": True}}, "is not a whole number"),
        ({"pair": 2}, "must be an object"),
    ):
        problem = _problem(start(attack_options=options, attacker_target_id=target), 422)
        assert [error["field"] for error in problem["errors"]] == ["body.attack_options"], problem
        assert words in problem["errors"][0]["message"], problem
    for caps in ({"robot": 5}, {"target": 0}, {"judge": "many"}):
        problem = _problem(start(max_requests=caps), 422)
        assert all(error["field"].startswith("body.max_requests") for error in problem["errors"]), problem
    assert _problem(start(max_tokens={"attacker": -1}), 422)["errors"][0]["field"].startswith("body.max_tokens")
    assert _problem(start(attacker_target_id="x"), 422)["errors"][0]["field"] == "body.attacker_target_id"


def test_defaults_come_from_the_settings_and_an_explicit_null_means_none(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    target = _target(api, analyst, "bot", "http://127.0.0.1:9/v1")
    judge = _target(api, analyst, "house-judge", "http://127.0.0.1:9/v1")

    def options(**fields: Any) -> dict[str, Any]:
        started = api.client.post(
            "/api/v1/scans", json={"target_id": target, "probes": PROBE, **fields}, headers=analyst
        )
        assert started.status_code == 202, started.text
        return dict(started.json()["options"])

    # nothing configured: no attacker, no judge, whatever the request leaves out
    assert options()["attacker_target_id"] is None and options()["judge_target_id"] is None
    monkeypatch.setenv("SECUREAI_DEFAULT_JUDGE_TARGET", "house-judge")
    _clear_settings()
    assert options()["judge_target_id"] == judge
    assert options(judge_target_id=None)["judge_target_id"] is None
    assert options(judge_target_id=target)["judge_target_id"] == target
    # the default attacker joins only scans with a strategy that needs one (no connector, no secret opened else)
    monkeypatch.setenv("SECUREAI_DEFAULT_ATTACKER_TARGET", "house-judge")
    _clear_settings()
    assert options()["attacker_target_id"] is None
    assert options(strategies="none,pair")["attacker_target_id"] == judge
    monkeypatch.setenv("SECUREAI_DEFAULT_ATTACKER_TARGET", "retired-attacker")
    _clear_settings()
    stale = _problem(
        api.client.post("/api/v1/scans", json={"target_id": target, "strategies": "pair"}, headers=analyst), 422
    )
    assert "SECUREAI_DEFAULT_ATTACKER_TARGET names the target 'retired-attacker'" in stale["detail"]
    assert options(attacker_target_id=None)["attacker_target_id"] is None  # an explicit choice needs no default


def _clear_settings() -> None:
    from app.config import get_settings

    get_settings.cache_clear()


def test_attacker_and_judge_follow_the_rule_of_the_scans_target(api: Api) -> None:
    """Targets belong to the team, not to whoever created them: a user who may start scans may use any stored
    target as the scan's target, and so as its attacker or judge; a user who may not start scans may use none.
    One function (`app.crud.scans.usable_target`) decides for all three."""
    admin = api.as_role(UserRole.ADMIN)
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("refusing") as (url, _):
        admins = _target(api, admin, "admins-model", url)
        analysts = _target(api, analyst, "analysts-bot", url)
        for role in (UserRole.VIEWER, UserRole.AUDITOR):
            headers = api.as_role(role)
            for fields in ({"target_id": admins}, {"target_id": analysts, "attacker_target_id": admins}):
                refused = api.client.post("/api/v1/scans", json={**fields, "probes": PROBE}, headers=headers)
                assert _problem(refused, 403)
        as_target = api.client.post("/api/v1/scans", json={"target_id": admins, "probes": PROBE}, headers=analyst)
        as_roles = api.client.post(
            "/api/v1/scans",
            json={"target_id": analysts, "probes": PROBE, "attacker_target_id": admins, "judge_target_id": admins},
            headers=analyst,
        )
        assert as_target.status_code == as_roles.status_code == 202, (as_target.text, as_roles.text)
        for started in (as_target, as_roles):
            assert api.wait_for_scan(started.json()["id"], analyst)["status"] == "completed"
