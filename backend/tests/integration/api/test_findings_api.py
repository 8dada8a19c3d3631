"""Findings across scans: filtering and ASR-sorted keyset paging, triage carried by fingerprint, scan diff."""

from __future__ import annotations

from typing import Any

from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api


def _scan(api: Api, headers: dict[str, str], target_id: int, probes: str) -> dict[str, Any]:
    started = api.client.post("/api/v1/scans", json={"target_id": target_id, "probes": probes}, headers=headers)
    assert started.status_code == 202, started.text
    scan = api.wait_for_scan(started.json()["id"], headers)
    assert scan["status"] == "completed", scan
    return scan


def _all_pages(api: Api, headers: dict[str, str], query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/api/v1/findings?{query}" + (f"&cursor={cursor}" if cursor else "")
        page = api.client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_triage_follows_the_weakness_and_the_diff_names_new_and_fixed(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("vulnerable") as (url, _):
        target = api.client.post(
            "/api/v1/targets",
            json={"name": "sim", "settings": {"type": "openai", "model": "sim", "base_url": url}},
            headers=analyst,
        ).json()
        first = _scan(api, analyst, target["id"], "owasp:LLM07")
        findings = api.client.get(f"/api/v1/findings?scan_id={first['id']}&limit=200", headers=analyst).json()
        chosen = findings["items"][0]
        viewer = api.as_role(UserRole.VIEWER)
        denied = api.client.put(f"/api/v1/findings/{chosen['id']}/triage", json={"state": "confirmed"}, headers=viewer)
        assert denied.status_code == 403
        triaged = api.client.put(
            f"/api/v1/findings/{chosen['id']}/triage",
            json={"state": "false_positive", "comment": "the simulator's own prompt"},
            headers=analyst,
        )
        assert triaged.status_code == 200 and triaged.json()["triage"]["state"] == "false_positive"
        second = _scan(api, analyst, target["id"], "owasp:LLM07,owasp:LLM02")

    diff = api.client.get(f"/api/v1/scans/{first['id']}/diff/{second['id']}", headers=analyst).json()
    assert {f["owasp"] for f in diff["new"]} == {"LLM02"} and diff["fixed"] == []
    assert len(diff["unchanged"]) == diff["unchanged_count"] == first["vulnerability_count"]
    counted = api.client.get(f"/api/v1/scans/{first['id']}/diff/{second['id']}?unchanged=false", headers=analyst)
    assert counted.json()["unchanged"] == [] and counted.json()["unchanged_count"] == first["vulnerability_count"]
    assert counted.json()["new"] == diff["new"]
    carried = next(f for f in diff["unchanged"] if f["fingerprint"] == chosen["fingerprint"])
    assert carried["scan_id"] == second["id"] and carried["triage"]["state"] == "false_positive"
    back = api.client.get(f"/api/v1/scans/{second['id']}/diff/{first['id']}", headers=analyst).json()
    # the first scan never ran LLM02: its findings were not re-tested, so they are not fixed (issue 15)
    assert back["fixed"] == [] and back["new"] == []
    assert {f["owasp"] for f in back["not_retested"]} == {"LLM02"}
    assert {f["reason"] for f in back["not_retested"]} == {"not in this scan's probes"}

    everything = _all_pages(api, analyst, "limit=3")
    assert len(everything) == first["vulnerability_count"] + second["vulnerability_count"]
    assert len({f["id"] for f in everything}) == len(everything)
    rates = [f["asr"] for f in everything]
    assert rates == sorted(rates, reverse=True)
    high = _all_pages(api, analyst, "severity=high&severity=critical&owasp=llm02&sort=asr&limit=2")
    assert high and all(f["severity"] in ("high", "critical") and f["owasp"] == "LLM02" for f in high)
    assert [f["asr"] for f in high] == sorted(f["asr"] for f in high)
    assert api.client.get("/api/v1/findings?cursor=nonsense", headers=analyst).status_code == 422
