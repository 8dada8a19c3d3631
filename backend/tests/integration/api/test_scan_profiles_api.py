"""A platform scan's profile decides how many prompts of each probe it sends (API)."""

from __future__ import annotations

from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from app.jobs.scan_job import ScanOptions
from tests.integration.api.conftest import Api

#: pi.direct.non_english has six prompts: quick sends 2 of them, standard and full all 6.
PROBE = "id:pi.direct.non_english"


def test_the_profile_sets_the_attempts_a_platform_scan_plans_and_is_stored(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("vulnerable") as (url, _):
        target = api.simulator_target(url, analyst)
        planned = {}
        for profile in ("quick", "full"):
            started = api.client.post(
                "/api/v1/scans",
                json={"target_id": target["id"], "probes": PROBE, "profile": profile},
                headers=analyst,
            )
            assert started.status_code == 202, started.text
            scan = api.wait_for_scan(started.json()["id"], analyst)
            assert scan["status"] == "completed" and scan["options"]["profile"] == profile
            planned[profile] = scan["attempts_planned"]
            assert scan["summary"]["attempts"] == planned[profile]
        default = api.client.post("/api/v1/scans", json={"target_id": target["id"], "probes": PROBE}, headers=analyst)
        assert api.wait_for_scan(default.json()["id"], analyst)["options"]["profile"] == "quick"
    assert planned == {"quick": 2, "full": 6}
    bad = api.client.post(
        "/api/v1/scans", json={"target_id": target["id"], "probes": PROBE, "profile": "huge"}, headers=analyst
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "profile" in bad.text and "quick" in bad.text


def test_a_scan_stored_before_profiles_is_planned_as_it_ran() -> None:
    """Scans of the days before profiles sent every prompt (at most 6 a probe): they read as `standard`."""
    assert ScanOptions.from_json({"probes": "owasp:LLM07", "strategies": "none"}).profile == "standard"
    assert ScanOptions.from_json({"probes": "all", "profile": "full"}).profile == "full"
    assert ScanOptions.from_json(None).profile == "quick"
