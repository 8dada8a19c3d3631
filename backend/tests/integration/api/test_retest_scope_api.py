"""Issue 15's scenario on the platform: scan LLM01/02/05/06/07, then only LLM01+LLM07. What the narrower scan did
not run is "not re-tested" in the scan diff, stays open on the overview (API and dashboard), keeps its compliance
status marked stale; and the risk trend has one line per target."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bs4 import BeautifulSoup
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.crud.retest import CARRIED_KEY
from app.db.enums import UserRole
from app.db.models import Scan
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api
from tests.integration.web.conftest import Web

# the categories, their most severe probes only (a quarter of the attempts: this runs on two databases;
# tests/integration/engine/test_baseline_retest_cli.py scans the whole categories)
SEVERE = {"LLM01": "critical", "LLM02": "critical", "LLM05": "critical", "LLM06": "critical", "LLM07": "high"}
WIDE = ",".join(f"owasp:{category}+severity:{level}" for category, level in SEVERE.items())
NARROW = "owasp:LLM01+severity:critical,owasp:LLM07+severity:high"
OUTSIDE = {"LLM02", "LLM05", "LLM06"}


def _scan(api: Api, headers: dict[str, str], target_id: int, probes: str) -> dict[str, Any]:
    body = {"target_id": target_id, "probes": probes, "strategies": "none"}
    started = api.client.post("/api/v1/scans", json=body, headers=headers)
    assert started.status_code == 202, started.text
    scan = api.wait_for_scan(started.json()["id"], headers)
    assert scan["status"] == "completed", scan
    return scan


def _findings(api: Api, headers: dict[str, str], scan_id: int) -> list[dict[str, Any]]:
    page = api.client.get(f"/api/v1/findings?scan_id={scan_id}&limit=200", headers=headers).json()
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


def _text(page: BeautifulSoup, selector: str) -> str:
    tag = page.select_one(selector)
    assert tag is not None, selector
    return tag.get_text(strip=True)


def test_a_narrower_rescan_leaves_what_it_did_not_retest_open(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("vulnerable") as (url, _):
        target = api.simulator_target(url, analyst, name="support-bot")
        wide = _scan(api, analyst, target["id"], WIDE)
        before = api.client.get("/api/v1/summary", headers=analyst).json()
        narrow = _scan(api, analyst, target["id"], NARROW)
        other = api.simulator_target(url, analyst, name="other-bot")
        elsewhere = _scan(api, analyst, other["id"], "owasp:LLM07")
    found = _findings(api, analyst, wide["id"])
    outside = [f for f in found if f["owasp"] in OUTSIDE]
    critical = Counter(f["severity"] for f in found)["critical"]
    assert outside and critical > 0 and before["open_by_severity"]["critical"] == critical

    diff = api.client.get(f"/api/v1/scans/{wide['id']}/diff/{narrow['id']}", headers=analyst).json()
    assert diff["fixed"] == [] and diff["new"] == [] and diff["retest_min_scored"] == 2
    assert sorted(f["fingerprint"] for f in diff["not_retested"]) == sorted(f["fingerprint"] for f in outside)
    assert {f["reason"] for f in diff["not_retested"]} == {"not in this scan's probes"}
    assert diff["unchanged_count"] == len(found) - len(outside)

    summary = api.client.get("/api/v1/summary", headers=analyst).json()
    posture = next(p for p in summary["posture"] if p["target_id"] == target["id"])
    assert posture["scan_id"] == narrow["id"]  # the latest scan, and still every open finding of the target
    assert posture["open_findings"] == len(found) and posture["not_retested"] == len(outside)
    assert posture["open_by_severity"]["critical"] == critical
    lines = {line["target_name"]: [p["scan_id"] for p in line["points"]] for line in summary["risk_trends"]}
    assert lines == {"support-bot": [wide["id"], narrow["id"]], "other-bot": [elsewhere["id"]]}

    def rows(scan_id: int) -> dict[tuple[str, str], dict[str, Any]]:
        frameworks = api.client.get(f"/api/v1/scans/{scan_id}/compliance", headers=analyst).json()
        return {(fw["framework"], r["id"]): r for fw in frameworks for r in fw["requirements"]}

    then, now = rows(wide["id"]), rows(narrow["id"])
    untested = {f["probe_id"] for f in outside}
    standing = api.client.get(f"/api/v1/targets/{target['id']}/compliance", headers=analyst).json()
    stale: dict[str, list[str]] = {}
    for fw in standing:
        for req in fw["requirements"]:
            key = (fw["framework"], req["id"])
            failing = set(then[key]["evidence"]["failed_probes"]) & untested
            if failing and now[key]["status"] != "non_compliant":  # failed on evidence the narrow scan never ran
                assert (req["status"], req["stale"], req["scan_id"]) == ("non_compliant", True, wide["id"]), key
            elif now[key]["status"] == "not_assessed" and then[key]["status"] != "not_assessed":
                assert (req["status"], req["stale"], req["scan_id"]) == (then[key]["status"], True, wide["id"]), key
                assert req["assessed_at"] == wide["completed_at"]
            else:
                assert (req["status"], req["stale"], req["scan_id"]) == (now[key]["status"], False, narrow["id"]), key
            if req["stale"]:
                stale.setdefault(fw["framework"], []).append(req["id"])
        assert fw["stale"] == len(stale.get(fw["framework"], []))
    assert stale.get("owasp-llm-2025"), stale

    # the dashboard shows the same: overview, the scan's diff, the compliance page
    viewer = Web(api.client.app, api.url).signed_in(UserRole.VIEWER)  # type: ignore[arg-type]
    overview = viewer.page("/")
    everywhere = found + _findings(api, analyst, elsewhere["id"])
    assert sum(summary["open_by_severity"].values()) == len(everywhere)
    critical_or_high = sum(f["severity"] in ("critical", "high") for f in everywhere)
    assert _text(overview, '[data-kpi="critical"]') == str(critical_or_high)
    assert _text(overview, '[data-kpi="not-retested"]') == str(len(outside))
    assert _text(overview, f'[data-not-retested="{target["id"]}"]') == str(len(outside))
    assert {h.get_text(strip=True) for h in overview.select("h3[data-trend]")} == {"support-bot", "other-bot"}
    scan_page = viewer.page(f"/scans/{narrow['id']}")
    assert _text(scan_page, '[data-diff="fixed"]') == "0"
    assert _text(scan_page, '[data-diff="not-retested"]') == str(len(outside))
    compliance = viewer.page(f"/compliance?target_id={target['id']}&framework=owasp-llm-2025")
    marked = {tag["data-stale"]: tag.get_text(" ", strip=True) for tag in compliance.select("[data-stale]")}
    assert set(marked) == set(stale["owasp-llm-2025"]) and all(f"#{wide['id']}" in text for text in marked.values())

    # the overview reads the open set the latest scan stored; without it (a scan written before it was stored,
    # or one that completed out of order) the history of the target's scans gives the same answer
    engine = create_engine(api.url)
    with Session(engine) as session:
        row = session.get_one(Scan, narrow["id"])
        row.results = {key: value for key, value in (row.results or {}).items() if key != CARRIED_KEY}
        session.commit()
    engine.dispose()
    again = api.client.get("/api/v1/summary", headers=analyst).json()
    assert again["posture"] == summary["posture"] and again["not_retested"] == summary["not_retested"] > 0
