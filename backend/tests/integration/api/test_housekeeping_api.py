"""Housekeeping through the HTTP API: deleting scans and targets (children first, audited, the chain intact),
refusals while a scan runs, audit log filters and export, and API tokens that default to the least role."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from tests.integration.api.conftest import Api


def _count(url: str, sql: str, **params: object) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text(sql), params).scalar_one()
    engine.dispose()
    return int(found)


def _execute(url: str, sql: str, **params: object) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(sql), params)
    engine.dispose()


def _rows_of_scan(url: str, scan_id: int) -> dict[str, int]:
    tables = ("attempts", "vulnerabilities", "compliance_mappings")
    return {table: _count(url, f"SELECT COUNT(*) FROM {table} WHERE scan_id = :id", id=scan_id) for table in tables}


def test_scans_and_targets_are_deleted_with_their_rows_and_the_deletion_is_audited(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    viewer = api.as_role(UserRole.VIEWER)
    auditor = api.as_role(UserRole.AUDITOR)
    with running_simulator("vulnerable") as (url, _):
        target = api.simulator_target(url, analyst)
        scan_ids = []
        for _ in range(2):
            started = api.client.post(
                "/api/v1/scans", json={"target_id": target["id"], "probes": "owasp:LLM07"}, headers=analyst
            )
            assert started.status_code == 202, started.text
            scan_ids.append(started.json()["id"])
            assert api.wait_for_scan(scan_ids[-1], viewer)["status"] == "completed"
    first, second = scan_ids
    before = _rows_of_scan(api.url, first)
    assert all(before.values()), before  # the scan has attempts, findings and a compliance assessment
    finding = api.client.get(f"/api/v1/scans/{second}/findings?limit=1", headers=viewer).json()["items"][0]
    triaged = api.client.put(
        f"/api/v1/findings/{finding['id']}/triage",
        json={"state": "false_positive", "comment": "the canary is a test value"},
        headers=analyst,
    )
    assert triaged.status_code == 200, triaged.text

    assert api.client.delete(f"/api/v1/scans/{first}", headers=viewer).status_code == 403
    deleted = api.client.delete(f"/api/v1/scans/{first}", headers=analyst)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"scans": 1, "attempts": before["attempts"], "findings": before["vulnerabilities"]}
    assert api.client.get(f"/api/v1/scans/{first}", headers=viewer).status_code == 404
    assert _rows_of_scan(api.url, first) == {"attempts": 0, "vulnerabilities": 0, "compliance_mappings": 0}
    assert api.client.get(f"/api/v1/scans/{second}", headers=viewer).status_code == 200  # the other scan stays
    again = api.client.delete(f"/api/v1/scans/{first}", headers=analyst)
    assert again.status_code == 404 and again.headers["content-type"].startswith("application/problem+json")

    # a running scan of the target holds both the scan and the target
    _execute(
        api.url,
        "INSERT INTO scans (name, model_name, model_type, scanner_type, status, created_by, target_id) "
        "SELECT 'busy', 'sim', 'openai', 'builtin', 'running', id, :target FROM users WHERE username = 'analyst'",
        target=target["id"],
    )
    busy = _count(api.url, "SELECT MAX(id) FROM scans")
    refused = api.client.delete(f"/api/v1/scans/{busy}", headers=analyst)
    assert refused.status_code == 409 and "cancel it" in refused.json()["detail"]
    refused = api.client.delete(f"/api/v1/targets/{target['id']}", headers=analyst)
    assert refused.status_code == 409 and f"scan {busy} (running)" in refused.json()["detail"]
    _execute(api.url, "UPDATE scans SET status = 'cancelled' WHERE id = :id", id=busy)

    assert api.client.delete(f"/api/v1/targets/{target['id']}", headers=viewer).status_code == 403
    gone = api.client.delete(f"/api/v1/targets/{target['id']}", headers=analyst)
    assert gone.status_code == 200, gone.text
    assert gone.json()["scans"] == 2 and gone.json()["findings"] > 0
    assert api.client.get(f"/api/v1/targets/{target['id']}", headers=viewer).status_code == 404
    assert _count(api.url, "SELECT COUNT(*) FROM scans") == 0
    assert _count(api.url, "SELECT COUNT(*) FROM finding_triage") == 0
    assert _count(api.url, "SELECT COUNT(*) FROM attempts") == 0

    records = api.client.get("/api/v1/audit?limit=200", headers=auditor).json()["items"]
    scan_delete = next(r for r in records if r["action"] == "scan_delete")
    assert scan_delete["resource_id"] == first and scan_delete["details"]["findings"] == before["vulnerabilities"]
    target_delete = next(r for r in records if r["action"] == "target_delete")
    assert target_delete["details"]["name"] == "sim" and target_delete["details"]["triage"] == 1
    assert api.client.get("/api/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_the_audit_log_filters_by_actor_action_and_day_and_exports_what_it_lists(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    auditor = api.as_role(UserRole.AUDITOR)
    api.client.post(
        "/api/v1/targets", json={"name": "a", "settings": {"type": "ollama", "model": "m"}}, headers=analyst
    )
    api.client.post(
        "/api/v1/targets", json={"name": "b", "settings": {"type": "ollama", "model": "m"}}, headers=analyst
    )

    def listed(query: str) -> list[dict[str, object]]:
        answer = api.client.get(f"/api/v1/audit?{query}", headers=auditor)
        assert answer.status_code == 200, answer.text
        items: list[dict[str, object]] = answer.json()["items"]
        return items

    created = listed("action=target_create")
    assert [r["details"]["name"] for r in created] == ["b", "a"]  # type: ignore[index]
    assert {r["action"] for r in listed("actor=auditor")} == {"login_success"}
    assert listed("actor=nobody") == []
    today = datetime.now(UTC).date()
    assert len(listed(f"action=target_create&since={today}&until={today}")) == 2
    assert listed(f"action=target_create&since={today + timedelta(days=1)}") == []
    assert listed(f"action=target_create&until={today - timedelta(days=1)}") == []
    bad = api.client.get("/api/v1/audit?since=yesterday", headers=auditor)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert api.client.get("/api/v1/audit/export", headers=analyst).status_code == 403

    exported = api.client.get("/api/v1/audit/export?format=csv&action=target_create", headers=auditor)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert 'filename="secureai-audit.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(row["username"], json.loads(row["details"])["name"]) for row in rows] == [
        ("analyst", "a"),
        ("analyst", "b"),
    ]
    assert all(len(row["row_hash"]) == 64 for row in rows)

    lines = api.client.get("/api/v1/audit/export?format=jsonl", headers=auditor).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)  # oldest first, the chain's order
    # each export is audited before it is read, so this one lists the first one and itself
    assert [(r["action"], r["details"]) for r in records[-2:]] == [
        ("audit_export", {"format": "csv", "action": "target_create"}),
        ("audit_export", {"format": "jsonl"}),
    ]
    assert {"target_create", "login_success"} <= {r["action"] for r in records}


def test_a_new_api_token_is_a_viewer_unless_asked_otherwise(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    created = api.client.post("/api/v1/tokens", json={"name": "ci"}, headers=analyst)
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "viewer"
    token = {"Authorization": f"Bearer {created.json()['token']}"}
    denied = api.client.post("/api/v1/targets", json={"name": "x", "settings": {"type": "ollama"}}, headers=token)
    assert denied.status_code == 403
