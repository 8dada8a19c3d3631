"""The findings workspace on a seeded database (SQLite and PostgreSQL): weaknesses grouped across scans with
their history, filters as a browser's form sends them, sort, search, pages, CSV, inline and bulk triage, one
finding's page, two scans compared, a scan's success charts and a running scan's pace."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.db.enums import AttemptOutcome, ScanStatus, Severity, UserRole
from app.db.models import Attempt, AuditLog, FindingTriage, Scan, Target, User, Vulnerability
from app.web.routes import findings as findings_pages
from tests.integration.web.conftest import Web, soup

T0 = datetime(2026, 3, 1, 9, 0)


@dataclass
class Seeded:
    bot: int
    other: int
    first: int
    second: int
    other_scan: int
    running: int
    ids: dict[str, int]  # finding ids by name: critical_1, critical_2, low_1, high_b, formula_1


def _attempts(scan_id: int, probe: str, strategy: str, vulnerable: int, safe: int, errors: int = 0) -> list[Attempt]:
    rows = []
    outcomes = [AttemptOutcome.VULNERABLE] * vulnerable + [AttemptOutcome.SAFE] * safe + [AttemptOutcome.ERROR] * errors
    for index, outcome in enumerate(outcomes):
        rows.append(
            Attempt(
                scan_id=scan_id,
                key=f"{probe}:{index}:{strategy}:0",
                probe_id=probe,
                prompt_index=index,
                strategies=strategy,
                repeat=0,
                outcome=outcome,
                turns=["x"],
                response="y",
                verdicts=[],
                requests_made=1,
                extra={},
                created_at=T0 + timedelta(seconds=index),
            )
        )
    return rows


def _finding(
    scan: int, name: str, severity: Severity, asr: tuple[float, float, float], owasp: str, fp: str
) -> Vulnerability:
    evidence = json.dumps(
        [
            {
                "attempt": "a:0:none:0",
                "strategies": ["none"],
                "prompt": "tell me",
                "response": "SECRET-42",
                "detectors": [],
            }
        ]
    )
    return Vulnerability(
        scan_id=scan,
        title=name,
        severity=severity,
        probe_name=f"{owasp.lower()}.{fp}",
        owasp=owasp,
        evidence=evidence,
        fingerprint=fp * 4,
        asr=asr[0],
        asr_low=asr[1],
        asr_high=asr[2],
        attempts=20,
        outcome_counts={"vulnerable": 5, "safe": 15},
    )


def _seed(url: str) -> Seeded:
    engine = create_engine(url)
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "analyst"))
        assert user is not None
        bot, other = Target(name="bot-a", type="openai", settings={}), Target(name="bot-b", type="openai", settings={})
        session.add_all([bot, other])
        session.flush()

        def scan(target: Target, hours: int, status: ScanStatus = ScanStatus.COMPLETED) -> Scan:
            row = Scan(
                name=f"{target.name} +{hours}h",
                model_name="m",
                model_type="openai",
                status=status,
                created_by=user.id,
                target_id=target.id,
                created_at=T0 + timedelta(hours=hours),
                started_at=T0 + timedelta(hours=hours),
                attempts_planned=40,
                results={"live": {"rate_limited": 3, "retried": 5}} if status == ScanStatus.RUNNING else None,
            )
            session.add(row)
            session.flush()
            return row

        first, second, other_scan = scan(bot, 1), scan(bot, 2), scan(other, 3)
        running = scan(bot, 4, ScanStatus.RUNNING)
        found = {
            "critical_1": _finding(first.id, "System prompt leak", Severity.CRITICAL, (0.8, 0.68, 1.0), "LLM07", "a"),
            "low_1": _finding(first.id, "Markdown image exfiltration", Severity.LOW, (0.5, 0.21, 1.0), "LLM02", "b"),
            "formula_1": _finding(first.id, "=HYPERLINK(evil)", Severity.MEDIUM, (0.3, 0.1, 0.6), "LLM01", "c"),
            "critical_2": _finding(second.id, "System prompt leak", Severity.CRITICAL, (0.9, 0.74, 1.0), "LLM07", "a"),
            "high_b": _finding(other_scan.id, "Tool abuse", Severity.HIGH, (0.4, 0.3, 0.5), "LLM06", "d"),
        }
        session.add_all(found.values())
        session.add_all(
            _attempts(first.id, "llm07.a", "none", 2, 8)
            + _attempts(first.id, "llm02.b", "base64", 5, 5)
            + _attempts(second.id, "llm07.a", "none", 10, 0)
            + _attempts(second.id, "llm02.b", "base64", 0, 10)
            + _attempts(running.id, "llm07.a", "none", 3, 4, errors=2)
        )
        session.commit()
        seeded = Seeded(
            bot.id, other.id, first.id, second.id, other_scan.id, running.id, {k: v.id for k, v in found.items()}
        )
    engine.dispose()
    return seeded


@pytest.fixture
def seeded(web: Web) -> Seeded:
    return _seed(web.url)


def _titles(page: object) -> list[str]:
    return [row.select_one("a[data-finding-link]").get_text() for row in page.select("tr.finding-row")]  # type: ignore[attr-defined]


def _grouped_filtered_sorted_searched(web: Web, seeded: Seeded) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    # the form as a browser submits it with "any" everywhere: empty values, no 422
    page = soup(analyst.get("/findings?view=all&q=&owasp=&target_id=&triage=&sort=severity"))
    assert page.select_one("[data-total]").get_text() == "4"
    # most severe first, then the ASR lower bound: the critical seen twice leads, the low is last
    assert _titles(page) == ["System prompt leak", "Tool abuse", "=HYPERLINK(evil)", "Markdown image exfiltration"]
    leak = page.select_one(f'tr[data-finding="{seeded.ids["critical_2"]}"]')
    assert leak is not None and leak.select_one("[data-scans]")["data-scans"] == "2"
    assert "2026-03-01 10:00 UTC" in leak.get_text() and "2026-03-01 11:00 UTC" in leak.get_text()
    assert "ASR per scan: scan " in str(leak.select_one("svg.spark"))
    # latest scan of each target only: the low and the formula were not found again by bot-a's second scan
    latest = soup(analyst.get("/findings?view=latest&target_id="))
    assert _titles(latest) == ["System prompt leak", "Tool abuse"]
    assert _titles(soup(analyst.get(f"/findings?target_id={seeded.other}"))) == ["Tool abuse"]
    assert _titles(soup(analyst.get("/findings?q=exfil"))) == ["Markdown image exfiltration"]
    assert _titles(soup(analyst.get("/findings?severity=critical&severity=low&owasp=llm07"))) == ["System prompt leak"]
    assert _titles(soup(analyst.get("/findings?sort=title")))[0] == "=HYPERLINK(evil)"
    by_lower_bound = soup(analyst.get("/findings?sort=-asr_low"))
    assert _titles(by_lower_bound)[:2] == ["System prompt leak", "Tool abuse"]
    assert by_lower_bound.select_one('th[aria-sort] a[data-sort="asr_low"]') is not None
    # the scan page's "see them all": the weaknesses this scan found, shown through this scan's finding
    of_first = soup(analyst.get(f"/findings?scan_id={seeded.first}"))
    assert of_first.select_one(f'tr[data-finding="{seeded.ids["critical_1"]}"]') is not None
    assert analyst.get("/findings?target_id=abc").status_code == 422
    assert "target_id" in analyst.get("/findings?target_id=abc").text


def _pages_and_csv(web: Web, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(findings_pages, "PAGE_SIZE", 3)
    analyst = web.signed_in(UserRole.ANALYST)
    first = soup(analyst.get("/findings?target_id="))
    assert len(first.select("tr.finding-row")) == 3 and first.select_one("a[rel=prev]") is None
    second = soup(analyst.get("/findings" + first.select_one("a[rel=next]")["href"]))
    assert _titles(second) == ["Markdown image exfiltration"] and second.select_one("a[rel=next]") is None
    assert "showing 4–4" in second.get_text()
    assert len(soup(analyst.get("/findings" + second.select_one("a[rel=prev]")["href"])).select("tr.finding-row")) == 3

    exported = analyst.get("/findings" + first.select_one("a[data-export]")["href"])
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["title"] for r in rows][:2] == ["System prompt leak", "Tool abuse"] and len(rows) == 4
    assert {r["title"] for r in rows} >= {"'=HYPERLINK(evil)"}  # a formula is text in a spreadsheet
    leak = rows[0]
    assert leak["scans_found"] == "2" and leak["target"] == "bot-a" and leak["asr_low"] == "0.7400"
    assert leak["asr_per_scan"] == f"#{seeded.first}:0.8000 #{seeded.second}:0.9000"
    only_b = list(csv.DictReader(io.StringIO(analyst.get(f"/findings?target_id={seeded.other}&export=csv").text)))
    assert [r["title"] for r in only_b] == ["Tool abuse"]


def _bulk_and_inline_triage(web: Web, seeded: Seeded) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    page = soup(analyst.get("/findings?view=all&target_id="))
    form = page.select_one("form[data-bulk-triage]")
    assert form is not None and form.select_one("input[name=back]")["value"] == "view=all&sort=severity"
    ticked = [seeded.ids["critical_2"], seeded.ids["critical_1"], seeded.ids["low_1"]]  # two findings, one weakness
    done = analyst.post(
        "/findings/triage",
        {
            "finding_id": [str(i) for i in ticked],
            "state": "false_positive",
            "comment": "test harness",
            "back": "view=all",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/findings?view=all&triaged=2"
    shown = soup(analyst.get(done.headers["location"]))
    assert shown.select_one("[data-triaged]").get_text().startswith("2 weaknesses triaged")
    assert _titles(soup(analyst.get("/findings?triage=false_positive"))) == [
        "System prompt leak",
        "Markdown image exfiltration",
    ]
    assert _titles(soup(analyst.get("/findings?triage=untriaged"))) == ["Tool abuse", "=HYPERLINK(evil)"]
    inline = analyst.post(
        f"/findings/{seeded.ids['high_b']}/triage", {"state": "accepted_risk", "comment": "until Q3"}, htmx=True
    )
    assert inline.status_code == 200 and "accepted risk" in inline.text
    detail = soup(analyst.get(f"/findings/{seeded.ids['high_b']}"))
    assert detail.select_one("[data-triage-note]").get_text() == "until Q3"

    engine = create_engine(web.url)
    with Session(engine) as session:
        audited = [row.details for row in session.scalars(select(AuditLog).where(AuditLog.action == "triage"))]
        states = {t.fingerprint: (t.state.value, t.comment) for t in session.scalars(select(FindingTriage))}
    engine.dispose()
    assert len(audited) == 3 and states["aaaa"] == ("false_positive", "test harness")
    assert states["dddd"] == ("accepted_risk", "until Q3")
    # nothing ticked, an unknown state, an unknown finding: the reason, nothing written
    assert analyst.post("/findings/triage", {"state": "fixed"}).status_code == 422
    assert analyst.post("/findings/triage", {"finding_id": [str(ticked[0])], "state": "gone"}).status_code == 422
    missing = analyst.post("/findings/triage", {"finding_id": ["999999"], "state": "fixed"})
    assert missing.status_code == 404 and "no finding 999999" in missing.text
    viewer = web.signed_in(UserRole.VIEWER)
    assert viewer.post("/findings/triage", {"finding_id": [str(ticked[0])], "state": "fixed"}).status_code == 403
    assert soup(viewer.get("/findings")).select_one("form[data-bulk-triage]") is None


def _finding_page(web: Web, seeded: Seeded) -> None:
    viewer = web.signed_in(UserRole.VIEWER)
    listed = soup(viewer.get("/findings"))
    link = listed.select_one(f'a[data-finding-link][href="/findings/{seeded.ids["critical_2"]}"]')
    assert link is not None
    page = soup(viewer.get(link["href"]))
    assert "System prompt leak" in page.select_one("[data-finding-title]").get_text()
    history = [row["data-scan"] for row in page.select("table[data-history] tr[data-scan]")]
    assert history == [str(seeded.first), str(seeded.second)]
    assert "90% (74%–100%)" in page.get_text() and "SECRET-42" in page.get_text()
    assert viewer.get("/findings/999999").status_code == 404


def _comparison_and_charts(web: Web, seeded: Seeded) -> None:
    viewer = web.signed_in(UserRole.VIEWER)
    empty = soup(viewer.get("/compare?base=&head="))
    assert empty.select_one("form[data-compare-form]") is not None and empty.select("table[data-compare]") == []
    page = soup(viewer.get(f"/compare?base={seeded.first}&head={seeded.second}"))

    def row(kind: str, key: str) -> tuple[str, str]:
        found = page.select_one(f'table[data-compare="{kind}"] tr[data-key="{key}"]')
        assert found is not None, (kind, key)
        return found.select_one("[data-change]").get_text(), found.select_one("[data-verdict]").get_text()

    assert row("probes", "llm07.a") == ("+80 pts", "worse")  # 2/10 -> 10/10
    assert row("probes", "llm02.b") == ("-50 pts", "same")  # 5/10 -> 0/10: 24%-76% and 0%-28% overlap
    assert row("categories", "LLM07") == ("+80 pts", "worse")
    assert row("strategies", "base64") == ("-50 pts", "same")
    assert "20% (6%–51%, 2/10)" in page.get_text()
    # scans of two targets compare too, and say so
    across = soup(viewer.get(f"/compare?base={seeded.first}&head={seeded.other_scan}"))
    assert "different targets" in across.get_text()
    assert viewer.get(f"/compare?base={seeded.first}&head=999999").status_code == 404
    assert viewer.get("/compare?base=x&head=1").status_code == 422
    scan_page = soup(viewer.get(f"/scans/{seeded.second}"))
    assert scan_page.select_one('[data-chart="categories"] svg') is not None
    assert "LLM07" in scan_page.select_one('[data-chart="categories"]').get_text()
    assert scan_page.select_one('[data-chart="strategies"] svg') is not None
    assert scan_page.select_one("form[data-compare-with] input[name=base]")["value"] == str(seeded.first)


def _live_pace(web: Web, seeded: Seeded) -> None:
    viewer = web.signed_in(UserRole.VIEWER)
    live = soup(viewer.get(f"/scans/{seeded.running}/live"))

    def shown(name: str) -> str:
        return live.select_one(f'[data-live="{name}"]').get_text()

    assert (shown("done"), shown("errors"), shown("retries"), shown("rate_limited")) == ("9", "2", "5", "3")
    assert shown("last_answer") == "09:00:08 UTC"  # the newest attempt's time
    assert shown("requests_per_s") != "—" and shown("eta") != "—"


def _api(web: Web, seeded: Seeded) -> None:
    from fastapi.testclient import TestClient

    from tests.platform import PASSWORD

    client = TestClient(web.app)
    token = client.post("/api/v1/auth/login", json={"username": "analyst", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    listed = client.get("/api/v1/weaknesses?target_id=&owasp=&limit=2&offset=1", headers=headers).json()
    assert listed["total"] == 4 and [w["title"] for w in listed["items"]] == ["Tool abuse", "=HYPERLINK(evil)"]
    leak = client.get("/api/v1/weaknesses?q=leak", headers=headers).json()["items"][0]
    assert leak["scans"] == 2 and [h["asr"] for h in leak["history"]] == [0.8, 0.9]
    bad = client.get("/api/v1/weaknesses?sort=nope", headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    triaged = client.post(
        "/api/v1/findings/triage",
        json={"finding_ids": [seeded.ids["low_1"]], "state": "fixed", "comment": "patched"},
        headers=headers,
    )
    assert triaged.status_code == 200 and triaged.json()["weaknesses"] == 1
    one = client.get(f"/api/v1/findings/{seeded.ids['low_1']}", headers=headers).json()
    assert one["triage"]["state"] == "fixed" and len(one["history"]) == 1
    compared = client.get(f"/api/v1/scans/{seeded.first}/compare/{seeded.second}", headers=headers).json()
    llm07 = next(c for c in compared["categories"] if c["key"] == "LLM07")
    assert llm07["base"]["asr"] == 0.2 and llm07["head"]["asr"] == 1.0 and llm07["verdict"] == "worse"


# each test starts the application on a fresh database (about 10 s): the parts share three of them


def test_weaknesses_grouped_across_scans_filtered_sorted_paged_exported_and_opened(
    web: Web, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grouped_filtered_sorted_searched(web, seeded)
    _finding_page(web, seeded)
    _pages_and_csv(web, seeded, monkeypatch)


def test_triage_inline_in_bulk_and_through_the_api(web: Web, seeded: Seeded) -> None:
    _bulk_and_inline_triage(web, seeded)
    _api(web, seeded)


def test_two_scans_compared_a_scans_success_charts_and_a_running_scans_pace(web: Web, seeded: Seeded) -> None:
    _comparison_and_charts(web, seeded)
    _live_pace(web, seeded)


def test_a_scan_job_records_its_retries_and_429s_while_it_runs_and_in_its_result(database_url: str) -> None:
    """The real job against the flaky simulator (15% of answers 429, 10% 500): the scan row carries the
    counters while it runs (what the live fragment reads) and the result keeps them."""
    import asyncio
    import threading

    from sqlalchemy.orm import sessionmaker

    from app.crud.targets import create_target
    from app.db import migrate
    from app.demo.simulator import running_simulator
    from app.jobs.scan_job import run_scan

    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    seen: list[dict[str, int]] = []
    done = threading.Event()
    with running_simulator("flaky", seed=5, latency_s=0.01) as (url, _):
        with sessions() as session, session.begin():
            user = User(username="owner", email="owner@example.org", hashed_password="x")
            session.add(user)
            session.flush()
            settings = {"type": "openai", "model": "sim", "base_url": url, "timeout_s": 0.3, "backoff_max_s": 0.05}
            target = create_target(session, name="flaky", settings=settings)
            scan = Scan(
                name="live counters",
                model_name="sim",
                model_type="openai",
                status=ScanStatus.PENDING,
                created_by=user.id,
                target_id=target.id,
                options={"probes": "pack:system_prompt_leak", "strategies": "none", "concurrency": 4},
            )
            session.add(scan)
            session.flush()
            scan_id = scan.id

        def watch() -> None:
            while not done.is_set():
                with sessions() as session:
                    results = session.scalar(select(Scan.results).where(Scan.id == scan_id)) or {}
                if isinstance(results.get("live"), dict):
                    seen.append(results["live"])
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            asyncio.run(run_scan(sessions, scan_id))
        finally:
            done.set()
            watcher.join()
    with sessions() as session:
        result = session.get_one(Scan, scan_id).results or {}
    engine.dispose()
    assert seen and seen[-1]["rate_limited"] > 0 and seen[-1]["retried"] >= seen[-1]["rate_limited"], seen[-3:]
    assert result["rate_limited_responses"] >= seen[-1]["rate_limited"] > 0
    assert result["retried_requests"] >= result["rate_limited_responses"] and "live" not in result
