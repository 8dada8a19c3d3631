"""Compliance stored per scan in compliance_mappings, and its trend across the scans of a target."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api


def test_each_scan_stores_its_assessment_and_the_target_shows_a_trend(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    viewer = api.as_role(UserRole.VIEWER)
    with running_simulator("vulnerable") as (url, _):
        target = api.client.post(
            "/api/v1/targets",
            json={"name": "sim", "settings": {"type": "openai", "model": "sim", "base_url": url}},
            headers=analyst,
        ).json()
        scans = []
        # the agentic probe that asks for a token is LLM07 and also evidences LLM02 (credentials): left out of the
        # first scan, which must leave LLM02 untested
        for probes in ("owasp:LLM07+!tag:credentials", "owasp:LLM07,owasp:LLM02"):
            started = api.client.post(
                "/api/v1/scans", json={"target_id": target["id"], "probes": probes}, headers=analyst
            ).json()
            scans.append(api.wait_for_scan(started["id"], analyst))
    first = api.client.get(f"/api/v1/scans/{scans[0]['id']}/compliance", headers=viewer).json()
    owasp = next(f for f in first if f["framework"] == "owasp-llm-2025")
    llm07 = next(r for r in owasp["requirements"] if r["id"] == "LLM07")
    assert llm07["status"] == "non_compliant" and llm07["finding_ids"] and llm07["evidence"]["failed_probes"]
    assert next(r for r in owasp["requirements"] if r["id"] == "LLM02")["status"] == "not_assessed"
    findings = api.client.get(f"/api/v1/scans/{scans[0]['id']}/findings?limit=200", headers=viewer).json()["items"]
    assert set(llm07["finding_ids"]) <= {f["id"] for f in findings}

    trend = api.client.get(f"/api/v1/targets/{target['id']}/compliance/trend", headers=viewer).json()
    points = trend["owasp-llm-2025"]
    assert [p["scan_id"] for p in points] == [s["id"] for s in scans]
    assert points[1]["coverage_pct"] > points[0]["coverage_pct"]  # the second scan tested LLM02 too

    engine = create_engine(api.url)
    with engine.connect() as connection:
        statuses = {
            row[0] for row in connection.execute(text("SELECT DISTINCT compliance_status FROM compliance_mappings"))
        }
    engine.dispose()
    assert statuses <= {"compliant", "partial", "non_compliant", "not_assessed"}  # lower-case, CHECKed values
