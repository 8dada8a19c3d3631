"""Re-judging a stored platform scan: a new, audited result version; nothing is sent to the target."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db.enums import ScanStatus, UserRole
from app.db.models import Attempt, Scan, User
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api


def _outcomes(url: str, scan_id: int) -> list[tuple[str, str]]:
    engine = create_engine(url)
    with Session(engine) as session:
        rows = session.execute(
            select(Attempt.key, Attempt.outcome).where(Attempt.scan_id == scan_id).order_by(Attempt.key)
        )
        result = [(key, outcome.value) for key, outcome in rows]
    engine.dispose()
    return result


def test_a_stored_scan_is_judged_again_as_a_new_audited_version_without_sending_anything(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    viewer = api.as_role(UserRole.VIEWER)
    with running_simulator("vulnerable") as (url, simulator):
        target = api.client.post(
            "/api/v1/targets",
            json={"name": "sim", "settings": {"type": "openai", "model": "sim", "base_url": url}},
            headers=analyst,
        ).json()
        started = api.client.post(
            "/api/v1/scans",
            json={"target_id": target["id"], "probes": "owasp:LLM01,owasp:LLM07", "strategies": "none,base64"},
            headers=analyst,
        )
        scan = api.wait_for_scan(started.json()["id"], viewer)
        sent = sum(simulator.state.requests.values())
        assert api.client.post(f"/api/v1/scans/{scan['id']}/rescore", headers=viewer).status_code == 403
        rescored = api.client.post(f"/api/v1/scans/{scan['id']}/rescore", headers=analyst)
        assert sum(simulator.state.requests.values()) == sent, "re-judging sent a request"
    assert rescored.status_code == 201, rescored.text
    version = rescored.json()
    assert version["id"] != scan["id"] and version["status"] == "completed"
    assert version["summary"]["attempts"] == scan["summary"]["attempts"] > 0
    assert version["summary"]["outcomes"] == scan["summary"]["outcomes"]
    assert _outcomes(api.url, version["id"]) == _outcomes(api.url, scan["id"])
    findings = api.client.get(f"/api/v1/scans/{version['id']}/findings", headers=viewer).json()["items"]
    original = api.client.get(f"/api/v1/scans/{scan['id']}/findings", headers=viewer).json()["items"]
    assert sorted(f["probe_id"] for f in findings) == sorted(f["probe_id"] for f in original)
    auditor = api.as_role(UserRole.AUDITOR)
    records = api.client.get("/api/v1/audit?limit=100", headers=auditor).json()["items"]
    rescore = [r for r in records if r["action"] == "scan_rescore"]
    assert len(rescore) == 1 and rescore[0]["details"]["rescored_from"] == scan["id"]
    assert rescore[0]["resource_id"] == version["id"]
    assert api.client.get("/api/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_only_an_ended_platform_scan_can_be_judged_again(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    missing = api.client.post("/api/v1/scans/424242/rescore", headers=analyst)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    engine = create_engine(api.url)
    with Session(engine) as session:
        owner = session.scalar(select(User.id).where(User.username == "analyst"))
        running = Scan(name="busy", model_name="m", model_type="openai", status=ScanStatus.RUNNING, created_by=owner)
        legacy = Scan(name="old", model_name="m", model_type="openai", status=ScanStatus.COMPLETED, created_by=owner)
        session.add_all([running, legacy])
        session.commit()
        ids = running.id, legacy.id
    engine.dispose()
    busy = api.client.post(f"/api/v1/scans/{ids[0]}/rescore", headers=analyst)
    assert busy.status_code == 409 and "only an ended scan" in busy.json()["detail"]
    old = api.client.post(f"/api/v1/scans/{ids[1]}/rescore", headers=analyst)
    assert old.status_code == 409 and "not a platform scan" in old.json()["detail"]
    scans = api.client.get("/api/v1/scans", headers=analyst).json()["items"]
    assert len(scans) == 2, "a refused re-judging leaves no half-written version behind"
