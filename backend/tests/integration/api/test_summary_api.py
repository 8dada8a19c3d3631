"""GET /summary: open findings of each target's latest scan, less what triage set aside; the risk trend."""

from __future__ import annotations

from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api


def _scan(api: Api, headers: dict[str, str], target_id: int) -> dict[str, object]:
    body = {"target_id": target_id, "probes": "owasp:LLM07", "strategies": "none"}
    started = api.client.post("/api/v1/scans", json=body, headers=headers)
    assert started.status_code == 202, started.text
    return api.wait_for_scan(started.json()["id"], headers)


def test_the_summary_follows_scans_and_triage(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    empty = api.client.get("/api/v1/summary", headers=api.as_role(UserRole.VIEWER)).json()
    assert empty["targets"] == 0 and empty["posture"] == [] and sum(empty["open_by_severity"].values()) == 0
    with running_simulator("vulnerable") as (url, _):
        settings = {"type": "openai", "model": "m", "base_url": url}
        target = api.client.post("/api/v1/targets", json={"name": "bot", "settings": settings}, headers=analyst).json()
        first = _scan(api, analyst, target["id"])
    summary = api.client.get("/api/v1/summary", headers=analyst).json()
    assert summary["targets"] == 1 and summary["scans_by_status"]["completed"] == 1
    assert sum(summary["open_by_severity"].values()) == first["vulnerability_count"] > 0
    [posture] = summary["posture"]
    assert posture["scan_id"] == first["id"] and posture["open_findings"] == first["vulnerability_count"]
    assert posture["risk_score"] == first["risk_score"]

    findings = api.client.get(f"/api/v1/scans/{first['id']}/findings", headers=analyst).json()["items"]
    for finding, state in zip(findings[:3], ("fixed", "confirmed", "accepted_risk"), strict=True):
        body = {"state": state, "comment": "reviewed"}  # an accepted risk needs a reason
        answer = api.client.put(f"/api/v1/findings/{finding['id']}/triage", json=body, headers=analyst)
        assert answer.status_code == 200
    after = api.client.get("/api/v1/summary", headers=analyst).json()
    assert after["posture"][0]["open_findings"] == first["vulnerability_count"] - 2  # confirmed stays open

    with running_simulator("refusing") as (url, _):
        api.client.patch(
            f"/api/v1/targets/{target['id']}",
            json={"settings": {"type": "openai", "model": "m", "base_url": url}},
            headers=analyst,
        )
        second = _scan(api, analyst, target["id"])
    fixed = api.client.get("/api/v1/summary", headers=analyst).json()
    assert fixed["posture"][0]["scan_id"] == second["id"] and fixed["posture"][0]["open_findings"] == 0
    assert [point["scan_id"] for point in fixed["risk_trend"]] == [first["id"], second["id"]]
    assert fixed["risk_trend"][0]["target_name"] == "bot" and fixed["risk_trend"][1]["risk_score"] < first["risk_score"]
