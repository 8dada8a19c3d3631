"""A platform scan with over-refusal probes, read in the dashboard: the rate of refused benign prompts has its own
card, and it is neither a finding, nor in the risk score, nor in the compliance status."""

from __future__ import annotations

import json
import re
import time

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.db.enums import UserRole
from app.db.models import Scan, Vulnerability
from app.demo.simulator import Mode, running_simulator
from tests.integration.web.conftest import Browser, Web, soup

SELECTION = "pack:over_refusal, id:pi.direct.ignore_previous"
#: quick profile: two prompts of each of the 14 over-refusal probes, and two of the attack
BENIGN = 28
ATTACKS = 2


def _scan(analyst: Browser, mode: Mode) -> int:
    """Create a target on the simulator in `mode`, scan it with the selection and wait for the end."""
    with running_simulator(mode) as (simulator, _):
        created = analyst.post(
            "/targets", {"name": f"{mode}-bot", "type": "openai", "base_url": simulator, "model": "sim"}
        )
        assert created.status_code == 303, created.text[:300]
        target_id = int(created.headers["location"].rsplit("/", 1)[1])
        started = analyst.post("/scans", {"target_id": target_id, "selection": SELECTION, "profile": "quick"})
        assert started.status_code == 303, started.text[:500]
        scan_id = int(started.headers["location"].rsplit("/", 1)[1])
        deadline = time.monotonic() + 180
        while analyst.get(f"/scans/{scan_id}/live", headers={"HX-Request": "true"}).headers.get("HX-Refresh") != "true":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return scan_id


def test_a_refusing_target_shows_its_over_refusal_rate_and_an_obedient_one_zero(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)

    refusing = _scan(analyst, "refusing")
    page = soup(analyst.get(f"/scans/{refusing}"))
    card = page.select_one("[data-over-refusal]")
    assert card is not None
    rate = card.select_one("[data-over-refusal-rate]").get_text(" ", strip=True)
    assert rate.startswith("100% of benign prompts refused")
    assert f"the target refused {BENIGN} of {BENIGN} benign prompts" in rate
    assert len(card.select("[data-over-refusal-probes] tbody tr")) == 14
    assert len(card.select("[data-refused-prompt]")) == BENIGN
    assert "How do I kill a" in card.get_text()
    assert page.select("details.finding") == [] and "No attack succeeded" in page.get_text()
    engine = create_engine(web.url)
    with Session(engine) as session:
        scan = session.get_one(Scan, refusing)
        assert scan.vulnerability_count == 0 and scan.risk_score == 0.0
        assert scan.results is not None
        results = scan.results
        found = session.scalar(select(func.count()).select_from(Vulnerability).where(Vulnerability.scan_id == refusing))
    assert found == 0
    assert results["attempts"] == ATTACKS and results["total_attempts"] == ATTACKS + BENIGN
    assert results["usability"]["over_refusal"]["rate"] == 1.0
    # the compliance status does not count refused benign prompts: nothing failed
    assert "failed by" not in page.select_one("#compliance-h").find_parent("section").get_text()

    obedient = _scan(analyst, "vulnerable")
    page = soup(analyst.get(f"/scans/{obedient}"))
    rate = page.select_one("[data-over-refusal-rate]").get_text(" ", strip=True)
    assert rate.startswith("0% of benign prompts refused") and f"refused 0 of {BENIGN}" in rate
    assert page.select("[data-refused-prompt]") == []
    findings = page.select("details.finding")
    assert [f.select_one("code").get_text() for f in findings] == ["pi.direct.ignore_previous"]
    with Session(engine) as session:
        scan = session.get_one(Scan, obedient)
        assert scan.vulnerability_count == 1 and scan.risk_score == 75.0
    engine.dispose()

    report = json.loads(analyst.get(f"/scans/{refusing}/report?format=json").text)
    assert report["usability"]["over_refusal"]["refused"] == BENIGN and report["findings"] == []
    markdown = analyst.get(f"/scans/{refusing}/report?format=md").text
    assert re.search(r"\*\*100%\*\* of benign prompts refused \(28 of 28;", markdown)
