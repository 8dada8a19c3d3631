"""Triage reaches every report format and CI gating, and a partial scan says so first (issue 15), through the
platform's API, its dashboard and `secureai report`/`triage export` on the same database."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from tests.conftest import pdf_text
from tests.integration.api.conftest import Api
from tests.integration.web.conftest import Browser
from tests.platform import PASSWORD

FAILED = "non_compliant"


def _report(api: Api, headers: dict[str, str], scan_id: int, name: str) -> bytes:
    answer = api.client.get(f"/api/v1/scans/{scan_id}/report?format={name}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.content


def _execute(url: str, sql: str, **params: object) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(sql), params)
    engine.dispose()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page)))


def test_a_false_positive_leaves_the_summary_the_score_and_the_gate(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("vulnerable") as (url, _):
        target = api.simulator_target(url, analyst)
        started = api.client.post(
            "/api/v1/scans", json={"target_id": target["id"], "probes": "owasp:LLM07"}, headers=analyst
        )
        scan = api.wait_for_scan(started.json()["id"], analyst)
    assert scan["status"] == "completed"
    before = json.loads(_report(api, analyst, scan["id"], "json"))
    top = before["findings"][0]  # the most severe, as the summary names it
    assert f"Most severe: {top['title']}" in _text(_report(api, analyst, scan["id"], "html").decode())
    rows = api.client.get(f"/api/v1/findings?scan_id={scan['id']}&limit=200", headers=analyst).json()["items"]
    by_probe = {row["probe_id"]: row for row in rows}

    # the rules of a decision: a reason for both, an expiry only for (and by default on) an accepted risk
    put = f"/api/v1/findings/{by_probe[top['probe_id']]['id']}/triage"
    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    for body, message in (
        ({"state": "false_positive"}, "needs a reason"),
        ({"state": "accepted_risk", "comment": "later"}, None),
        ({"state": "accepted_risk", "comment": "later", "expires_at": past}, "in the future"),
        ({"state": "confirmed", "expires_at": "2099-01-01"}, "only an accepted risk"),
    ):
        answer = api.client.put(put, json=body, headers=analyst)
        if message is None:  # 90 days when no date is given
            expires = datetime.fromisoformat(answer.json()["triage"]["expires_at"])
            assert answer.status_code == 200 and 89 <= (expires - datetime.now(UTC)).days <= 90
        else:
            assert answer.status_code == 422 and message in answer.json()["detail"], answer.text
    # the bulk triage of the findings workspace (and the dashboard's forms on it) follows the same rules
    chosen = {"finding_ids": [by_probe[top["probe_id"]]["id"]], "state": "accepted_risk"}
    refused = api.client.post("/api/v1/findings/triage", json=chosen, headers=analyst)
    assert refused.status_code == 422 and "needs a reason" in refused.json()["detail"]
    bulk = api.client.post("/api/v1/findings/triage", json={**chosen, "comment": "for now"}, headers=analyst)
    expires = datetime.fromisoformat(bulk.json()["items"][0]["triage"]["expires_at"])
    assert bulk.status_code == 200 and 89 <= (expires - datetime.now(UTC)).days <= 90
    marked = api.client.put(put, json={"state": "false_positive", "comment": "our own canary page"}, headers=analyst)
    assert marked.status_code == 200 and marked.json()["triage"]["expires_at"] is None

    after = json.loads(_report(api, analyst, scan["id"], "json"))
    summary = after["summary"]
    assert summary["risk_score_before_triage"] == before["summary"]["risk_score"]
    assert summary["findings_set_aside"] == 1 and after["triage"]["set_aside"] == [top["probe_id"]]
    carried = next(f for f in after["findings"] if f["probe_id"] == top["probe_id"])
    assert carried["triage"]["state"] == "false_positive" and carried["triage"]["set_aside"] is True
    assert carried["fingerprint"] == by_probe[top["probe_id"]]["fingerprint"]

    page = _text(_report(api, analyst, scan["id"], "html").decode())
    assert f"Most severe: {top['title']}" not in page and "Most severe:" in page
    aside = page[page.index("Set aside by triage") :]
    assert re.search(rf"{re.escape(top['probe_id'])}.*false positive\s*our own canary page", aside)
    # the PDF is drawn from the same template and view (its first page: test_a_cancelled_scan_says_...)

    sarif = json.loads(_report(api, analyst, scan["id"], "sarif"))
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert [r["ruleId"] for r in suppressed] == [top["probe_id"]]
    assert suppressed[0]["suppressions"][0]["justification"] == "false positive: our own canary page"
    junit = ET.fromstring(_report(api, analyst, scan["id"], "junit"))  # noqa: S314 - our own output
    skipped = [case for case in junit.iter("testcase") if case.find("skipped") is not None]
    assert any(case.get("name", "").startswith(top["probe_id"]) for case in skipped)
    table = list(csv.DictReader(io.StringIO(_report(api, analyst, scan["id"], "csv").decode())))
    assert {row["probe_id"]: (row["triage"], row["set_aside"]) for row in table}[top["probe_id"]] == (
        "false positive",
        "yes",
    )

    # CI: the exported triage file lets --fail-on pass once every finding at the top severity is set aside
    worst = top["severity"]
    for finding in after["findings"]:
        if finding["severity"] == worst and finding["probe_id"] != top["probe_id"]:
            row_id = by_probe[finding["probe_id"]]["id"]
            answer = api.client.put(
                f"/api/v1/findings/{row_id}/triage",
                json={"state": "accepted_risk", "comment": "compensating filter", "expires_at": "2099-12-31"},
                headers=analyst,
            )
            assert answer.status_code == 200, answer.text
    exported = api.client.get(f"/api/v1/targets/{target['id']}/triage", headers=api.as_role(UserRole.VIEWER))
    assert exported.status_code == 200 and exported.json()["schema"] == "secureai.triage/v1"
    assert api.client.get("/api/v1/targets/999/triage", headers=analyst).status_code == 404
    triage_file = tmp_path / "triage.json"
    triage_file.write_text(exported.text)
    document = tmp_path / "scan.json"
    document.write_bytes(_report(api, analyst, scan["id"], "json"))
    monkeypatch.setenv("DATABASE_URL", api.url)
    runner = CliRunner()
    via_cli = runner.invoke(cli, ["triage", "export", "--target", target["name"]])
    assert via_cli.exit_code == 0, via_cli.output
    assert json.loads(via_cli.stdout)["findings"] == exported.json()["findings"]
    untriaged = runner.invoke(cli, ["report", str(document), "--triage", str(tmp_path / "none.json"), "-o", "x"])
    assert untriaged.exit_code == 2 and "does not exist" in untriaged.output
    gate = ["report", str(document), "--format", "md", "--fail-on", worst]
    empty = tmp_path / "empty.yaml"
    empty.write_text("schema: secureai.triage/v1\nfindings: []\n")
    assert runner.invoke(cli, [*gate, "--triage", str(empty)]).exit_code == 1
    passed = runner.invoke(cli, [*gate, "--triage", str(triage_file)])
    assert passed.exit_code == 0, passed.output
    assert runner.invoke(cli, ["report", str(scan["id"]), "-f", "md", "--fail-on", worst]).exit_code == 0

    # an accepted risk past its end date counts again: in the report, the gate and the overview's open findings
    def posture() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = api.client.get("/api/v1/summary", headers=analyst).json()["posture"]
        return found

    open_before = posture()[0]["open_findings"]
    _execute(api.url, "UPDATE finding_triage SET expires_at = '2020-01-01 00:00:00' WHERE state = 'accepted_risk'")
    accepted = len(exported.json()["findings"]) - 1
    assert accepted >= 1 and posture()[0]["open_findings"] == open_before + accepted
    lapsed = json.loads(_report(api, analyst, scan["id"], "json"))
    assert lapsed["summary"]["findings_set_aside"] == 1
    assert runner.invoke(cli, ["report", str(scan["id"]), "-f", "md", "--fail-on", worst]).exit_code == 1

    # compliance standing: a requirement failed only by false positives did not fail; an accepted risk still fails
    def failing() -> set[tuple[str, str]]:
        standing = api.client.get(f"/api/v1/targets/{target['id']}/compliance", headers=analyst).json()
        return {(f["framework"], r["id"]) for f in standing for r in f["requirements"] if r["status"] == FAILED}

    failed = failing()
    assert failed
    for finding in after["findings"]:
        body = {"state": "false_positive", "comment": "the simulator's own canary"}
        row_id = by_probe[finding["probe_id"]]["id"]
        assert api.client.put(f"/api/v1/findings/{row_id}/triage", json=body, headers=analyst).status_code == 200
    assert failing() == set()

    # an inconclusive scan moves neither the posture nor the risk trend (its page carries the banner instead)
    assert [p["scan_id"] for p in posture()] == [scan["id"]]
    _execute(
        api.url,
        "UPDATE scans SET results = :results WHERE id = :id",
        results=json.dumps({**scan["summary"], "inconclusive": True}),
        id=scan["id"],
    )
    summary = api.client.get("/api/v1/summary", headers=analyst).json()
    assert summary["posture"] == [] and all(point["scan_id"] != scan["id"] for point in summary["risk_trend"])


def _wait_for_attempts(api: Api, headers: dict[str, str], scan_id: int, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        scan = api.client.get(f"/api/v1/scans/{scan_id}", headers=headers).json()
        done = (scan["progress"] or 0) * (scan["attempts_planned"] or 0) / 100
        if done >= at_least or scan["status"] not in ("pending", "running"):
            return
        assert time.monotonic() < deadline, scan
        time.sleep(0.05)


# one database: nothing here is specific to it (the triage test above runs on both), and the PDF is slow to draw
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cancelled_scan_says_done_of_planned_first_everywhere(api: Api, tmp_path: Path) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("vulnerable", latency_s=0.3) as (url, _):
        target = api.simulator_target(url, analyst)
        # a plan of several hundred attempts at 0.3 s each: the cancel lands long before the end
        plan = {"target_id": target["id"], "probes": "owasp:LLM07,owasp:LLM01", "profile": "standard"}
        started = api.client.post("/api/v1/scans", json=plan, headers=analyst)
        scan_id = started.json()["id"]
        _wait_for_attempts(api, analyst, scan_id, 3)
        assert api.client.post(f"/api/v1/scans/{scan_id}/cancel", headers=analyst).status_code in (200, 202)
        scan = api.wait_for_scan(scan_id, analyst)
    assert scan["status"] == "cancelled"
    document = json.loads(_report(api, analyst, scan_id, "json"))
    done, planned = document["summary"]["total_attempts"], scan["attempts_planned"]
    assert 0 < done < planned
    expected = f"{done} of {planned} planned attempts"
    assert document["partial"]["attempts_done"] == done and document["partial"]["attempts_planned"] == planned

    # the simulator leaks its system prompt: the attempts done found something; set the worst aside
    top = document["findings"][0]
    row = next(
        f
        for f in api.client.get(f"/api/v1/findings?scan_id={scan_id}", headers=analyst).json()["items"]
        if f["probe_id"] == top["probe_id"]
    )
    body = {"state": "false_positive", "comment": "a test canary"}
    assert api.client.put(f"/api/v1/findings/{row['id']}/triage", json=body, headers=analyst).status_code == 200

    pdf = tmp_path / "partial.pdf"
    pdf.write_bytes(_report(api, analyst, scan_id, "pdf"))
    first_page = re.sub(r"\s+", " ", pdf_text(pdf).split("\f")[0])
    assert f"Partial scan: {expected} done." in first_page and "cancelled" in first_page
    assert "set aside by triage" in first_page and f"({top['probe_id']}," not in first_page
    page = _text(_report(api, analyst, scan_id, "html").decode())
    assert page.index("Partial scan:") < page.index("Executive summary")
    markdown = _report(api, analyst, scan_id, "md").decode().splitlines()
    assert "Partial scan (cancelled" in markdown[2] and expected in markdown[2]
    first_row = next(iter(csv.DictReader(io.StringIO(_report(api, analyst, scan_id, "csv").decode()))))
    assert first_row["finding_type"] == "partial_scan" and expected in first_row["title"]
    sarif = json.loads(_report(api, analyst, scan_id, "sarif"))["runs"][0]["invocations"][0]
    notice = sarif["toolExecutionNotifications"][0]["message"]["text"]
    assert sarif["executionSuccessful"] is False and expected in notice
    junit = ET.fromstring(_report(api, analyst, scan_id, "junit"))  # noqa: S314 - our own output
    case = next(c for c in junit.iter("testcase") if c.get("name") == "scan conclusiveness")
    error: Any = case.find("error")
    assert error is not None and error.get("type") == "partial" and expected in error.get("message")

    signed = _signed_in(Browser(api.client.app))  # type: ignore[arg-type]
    scan_page = signed.page(f"/scans/{scan_id}")
    banner = scan_page.find(id="partial-banner")
    assert banner is not None and f"Partial scan: {expected} done." in banner.get_text(" ", strip=True)
    note = scan_page.find(id="set-aside-note")
    assert note is not None and note.get_text(" ", strip=True).startswith("1 of them set aside by triage")
    listing = signed.page("/scans").get_text(" ", strip=True)
    assert f"{done} of {planned}" in listing


def _signed_in(browser: Browser) -> Browser:
    answer = browser.post("/login", {"username": "viewer", "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text
    return browser
