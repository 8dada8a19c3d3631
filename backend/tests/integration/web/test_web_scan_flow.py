"""A whole job done in the dashboard against the simulator: target, test, scan followed live, evidence,
triage, compliance, reports; with what each role may not do and what bad input gets."""

from __future__ import annotations

import json
import time

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app.db.enums import UserRole
from app.db.models import AuditLog, Target
from app.demo.simulator import running_simulator
from tests.integration.web.conftest import Browser, Web, soup

SECRET = "sk-web-form-0123456789abcdef"
HEADER_SECRET = "gw-web-form-9876543210"


def _stored(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [
            list(map(str, row))
            for table in ("targets", "audit_logs")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        ]
    engine.dispose()
    return json.dumps(rows)


def _audited(url: str, action: str) -> list[dict[str, object]]:
    engine = create_engine(url)
    with Session(engine) as session:
        details = [row.details or {} for row in session.scalars(select(AuditLog).where(AuditLog.action == action))]
    engine.dispose()
    return details


def _create_target(analyst: Browser, simulator: str, name: str = "support-bot") -> int:
    created = analyst.post(
        "/targets",
        {
            "name": name,
            "type": "openai",
            "base_url": simulator,
            "model": "secureai-simulator-vulnerable",
            "api_key": SECRET,
            "secret_headers": json.dumps({"X-Gateway-Key": HEADER_SECRET}),
            "extra": '{"max_concurrency": 4}',
        },
    )
    assert created.status_code == 303, created.text[:500]
    return int(created.headers["location"].rsplit("/", 1)[1])


def _follow(analyst: Browser, scan_id: int, timeout: float = 120) -> list[float]:
    """Poll the live fragment as the page does until it asks for a reload; the progress values it showed."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        live = analyst.get(f"/scans/{scan_id}/live", headers={"HX-Request": "true"})
        assert live.status_code == 200
        progress = soup(live).select_one("[data-progress]")
        assert progress is not None
        seen.append(float(progress["data-progress"]))
        if live.headers.get("HX-Refresh") == "true":
            return seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)


def test_an_analyst_scans_a_target_and_triages_its_findings_in_the_dashboard(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    with running_simulator("vulnerable", latency_s=0.01) as (simulator, _):
        target_id = _create_target(analyst, simulator)
        target_page = analyst.get(f"/targets/{target_id}").text
        assert "sealed at rest" in target_page and SECRET not in target_page and HEADER_SECRET not in target_page
        checks = analyst.post(f"/targets/{target_id}/test", htmx=True)
        levels = {
            li.find("strong").get_text(): li.find("span").get_text() for li in soup(checks).select("ul.checks li")
        }
        assert levels["reachable"] == "ok" and levels["credentials"] == "ok", checks.text

        form = soup(analyst.get(f"/scans/new?target_id={target_id}"))
        assert form.find("option", {"value": str(target_id), "selected": True}) is not None
        preview = analyst.post("/scans/preview", {"owasp": ["LLM07"], "strategies": ["none", "base64"]}, htmx=True)
        planned = int(soup(preview).select_one("[data-attempts]")["data-attempts"])
        assert planned > 10
        started = analyst.post(
            "/scans", {"target_id": target_id, "owasp": ["LLM07"], "strategies": ["none", "base64"], "repeat": 1}
        )
        assert started.status_code == 303
        scan_id = int(started.headers["location"].rsplit("/", 1)[1])
        running = soup(analyst.get(f"/scans/{scan_id}"))
        assert running.select_one("#live") is not None or running.select_one("details.finding") is not None
        seen = _follow(analyst, scan_id)
        assert seen[-1] == 100.0 and seen == sorted(seen)

    page = soup(analyst.get(f"/scans/{scan_id}"))
    findings = page.select("details.finding")
    assert findings and all("LLM07" in f.select_one(".summary-meta").get_text() for f in findings)
    assert "completed" in page.select_one(".badge.st-completed").get_text()
    assert page.find(string=lambda s: s is not None and f"{planned} attempts" in s) is not None
    # the simulator repeats the retrieved HTML of the prompt: shown as text, never as markup
    raw = analyst.get(f"/scans/{scan_id}").text
    assert "<script" not in raw.split("</head>", 1)[1].replace('<script src="/static/', "")
    evidence = findings[0].select("pre")
    assert evidence and "SA-CANARY-" in " ".join(pre.get_text() for pre in evidence)
    assert page.select_one("#compliance-h") is not None and "owasp-llm-2025" in page.get_text()

    first_id = int(findings[0]["id"].removeprefix("finding-"))
    triaged = analyst.post(
        f"/findings/{first_id}/triage", {"state": "false_positive", "comment": "test prompt"}, htmx=True
    )
    assert triaged.status_code == 200 and "false positive" in triaged.text
    assert _audited(web.url, "triage")[-1]["to"] == "false_positive"
    overview = soup(analyst.get("/"))
    assert int(overview.select_one('[data-kpi="open"]').get_text()) == len(findings) - 1
    listed = soup(analyst.get(f"/findings?target_id={target_id}&sort=-asr"))
    assert "false positive" in listed.get_text()

    report = analyst.get(f"/scans/{scan_id}/report?format=sarif")
    assert report.status_code == 200 and json.loads(report.text)["version"] == "2.1.0"
    assert report.headers["content-disposition"] == f'attachment; filename="secureai-scan-{scan_id}.sarif"'
    shown = analyst.get(f"/scans/{scan_id}/report?format=html&inline=true")
    assert (
        shown.headers["content-disposition"] == "inline"
        and "style-src 'unsafe-inline'" in shown.headers["content-security-policy"]
    )
    assert [d["format"] for d in _audited(web.url, "report_export")] == ["sarif", "html"]
    compliance = soup(analyst.get(f"/compliance?target_id={target_id}&framework=owasp-llm-2025"))
    assert compliance.select_one("td.req-failed") is not None
    assert SECRET not in _stored(web.url) and HEADER_SECRET not in _stored(web.url)
    for path in ("/", "/targets", f"/targets/{target_id}", f"/targets/{target_id}/edit", "/audit"):
        shown = web.signed_in(UserRole.ADMIN).get(path).text
        assert SECRET not in shown and HEADER_SECRET not in shown, path


def test_a_viewer_reads_but_cannot_scan_triage_or_export(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    viewer = web.signed_in(UserRole.VIEWER)
    with running_simulator("vulnerable") as (simulator, _):
        target_id = _create_target(analyst, simulator, "viewer-visible")
        started = analyst.post("/scans", {"target_id": target_id, "owasp": ["LLM07"], "strategies": ["none"]})
        scan_id = int(started.headers["location"].rsplit("/", 1)[1])
        _follow(analyst, scan_id)
    page = soup(viewer.get(f"/scans/{scan_id}"))
    assert page.select("details.finding") and page.select("form[hx-post*='/triage']") == []
    assert page.select_one("#reports-h") is None and "New scan" not in viewer.get("/scans").text
    assert viewer.post("/scans", {"target_id": target_id, "owasp": ["LLM07"]}).status_code == 403
    assert viewer.get(f"/scans/{scan_id}/report?format=csv").status_code == 403
    finding_id = int(page.select_one("details.finding")["id"].removeprefix("finding-"))
    assert viewer.post(f"/findings/{finding_id}/triage", {"state": "fixed"}, htmx=True).status_code == 403


def test_bad_input_gets_the_form_back_with_the_reason_and_nothing_written(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    cases = [
        ({"name": "no-url", "type": "openai", "model": "m"}, "needs base_url"),
        (
            {"name": "bad-json", "type": "openai", "model": "m", "base_url": "http://x/v1", "extra": "{nope"},
            "JSON object",
        ),
        (
            {
                "name": "env",
                "type": "openai",
                "model": "m",
                "base_url": "http://x/v1",
                "extra": '{"api_key_env": "HOME"}',
            },
            "api_key_env",
        ),
        ({"name": "", "type": "openai", "model": "m", "base_url": "http://x/v1"}, "name"),
        (
            {"name": "hdr", "type": "openai", "model": "m", "base_url": "http://x/v1", "secret_headers": '["x"]'},
            "Secret headers must be a JSON object",
        ),
    ]
    for data, reason in cases:
        answer = analyst.post("/targets", data)
        assert answer.status_code == 422, (data, answer.status_code)
        alert = soup(answer).select_one(".alert")
        assert alert is not None and reason in alert.get_text(), (reason, alert)
        assert soup(answer).find("input", {"name": "model"})["value"] == "m"  # what was typed is kept
    engine = create_engine(web.url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Target)) == 0
    engine.dispose()

    with running_simulator("vulnerable") as (simulator, _):
        target_id = _create_target(analyst, simulator)
    duplicate = analyst.post(
        "/targets", {"name": "support-bot", "type": "openai", "model": "m", "base_url": "http://x/v1"}
    )
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    nothing = analyst.post("/scans", {"target_id": target_id})
    assert nothing.status_code == 422 and "Choose at least one OWASP category" in nothing.text
    typo = analyst.post("/scans", {"target_id": target_id, "selection": "tag:no-such-tag"})
    assert typo.status_code == 422 and "no-such-tag" in soup(typo).select_one(".alert").get_text()
    missing = analyst.post("/scans", {"target_id": 424242, "owasp": ["LLM07"]})
    assert missing.status_code == 404 and "no target 424242" in missing.text
    assert analyst.get("/scans/abc").status_code == 422 and "Traceback" not in analyst.get("/scans/abc").text
    assert analyst.get("/scans").text.count("/scans/") >= 1 and "#1 " not in analyst.get("/scans").text
