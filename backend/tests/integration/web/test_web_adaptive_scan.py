"""The dashboard's side of adaptive attacks: attacker and judge chosen on the new-scan form (none unless the
settings name a default), the scan page's per-strategy table and roles, and an adaptive finding's conversation
turn by turn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from app.config import get_settings
from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from tests.integration.web.conftest import Browser, Web, soup

PROBE = "id:jb.roleplay.unrestricted_persona"


@contextmanager
def doubles() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {
            role: stack.enter_context(running_simulator(mode))[0]  # type: ignore[arg-type]
            for role, mode in (("target", "guarded"), ("attacker", "attacker"), ("judge", "judge"))
        }


def _create_target(analyst: Browser, name: str, url: str) -> int:
    created = analyst.post("/targets", {"name": name, "type": "openai", "base_url": url, "model": name})
    assert created.status_code == 303, created.text[:500]
    return int(created.headers["location"].rsplit("/", 1)[1])


def _wait(analyst: Browser, scan_id: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while analyst.get(f"/scans/{scan_id}/live", headers={"HX-Request": "true"}).headers.get("HX-Refresh") != "true":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _selected(page: Any, select_id: str) -> str:
    chosen = page.select_one(f"select#{select_id} option[selected]")
    assert chosen is not None, select_id
    return str(chosen["value"])


def test_the_form_offers_attacker_judge_and_the_adaptive_strategies_none_chosen_by_default(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    target = _create_target(analyst, "bot", "http://127.0.0.1:9/v1")
    judge = _create_target(analyst, "house-judge", "http://127.0.0.1:9/v1")
    form = soup(analyst.get("/scans/new"))
    for select_id, label in (("attacker_target_id", "Attacker model"), ("judge_target_id", "Judge model")):
        assert label in form.select_one(f"label[for={select_id}]").get_text()
        values = [option["value"] for option in form.select(f"select#{select_id} option")]
        assert values == ["none", str(target), str(judge)]
        assert _selected(form, select_id) == "none"  # never on unless configured
    assert form.select_one("input#attack_options") is not None and form.select_one("label[for=attack_options]")
    offered = {box["value"] for box in form.select("input[name=strategies]")}
    assert {"pair", "tap", "crescendo", "best_of_n", "none", "base64"} <= offered

    monkeypatch.setenv("SECUREAI_DEFAULT_JUDGE_TARGET", "house-judge")
    get_settings.cache_clear()
    form = soup(analyst.get("/scans/new"))
    assert _selected(form, "judge_target_id") == str(judge) and _selected(form, "attacker_target_id") == "none"
    monkeypatch.setenv("SECUREAI_DEFAULT_ATTACKER_TARGET", "retired-attacker")
    get_settings.cache_clear()
    form = soup(analyst.get("/scans/new"))
    assert _selected(form, "attacker_target_id") == "none"
    assert (
        "names the target 'retired-attacker', which does not exist" in form.select_one("fieldset .warning").get_text()
    )

    preview = analyst.post("/scans/preview", {"selection": PROBE, "strategies": ["pair"], "attacker_target_id": "none"})
    assert "pair needs an attacker model" in soup(preview).select_one("[data-needs-attacker]").get_text()
    fields = {"target_id": target, "selection": PROBE, "attacker_target_id": "none", "judge_target_id": "none"}
    for extra, words in (
        ({"strategies": ["pair"]}, "pair needs an attacker model"),
        ({"strategies": ["none"], "attack_options": "pair.streams=99"}, "pair.streams must be 1-"),
        ({"strategies": ["none"], "attack_options": "pair.bogus=1"}, "pair has no parameter 'bogus'"),
        ({"strategies": ["none"], "max_requests": "robot=3"}, "Request caps: 'robot=3' is not ROLE=N"),
        ({"strategies": ["none"], "attacker_target_id": "x"}, "Attacker model: choose a stored target or none"),
    ):
        refused = analyst.post("/scans", {**fields, **extra})
        assert refused.status_code == 422, (extra, refused.status_code)
        assert words in soup(refused).select_one(".alert").get_text(), extra
    unknown = analyst.post("/scans", {**fields, "strategies": ["none"], "judge_target_id": "424242"})
    assert unknown.status_code == 404 and "judge_target_id: no target 424242" in unknown.text


def test_an_adaptive_scan_page_shows_strategies_roles_and_each_conversation_turn_by_turn(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    with doubles() as urls:
        ids = {role: _create_target(analyst, f"{role}-model", url) for role, url in urls.items()}
        started = analyst.post(
            "/scans",
            {
                "target_id": ids["target"],
                "selection": PROBE,
                "strategies": ["none", "pair"],
                "stacks": "crescendo",
                "attacker_target_id": str(ids["attacker"]),
                "judge_target_id": str(ids["judge"]),
                "attack_options": "pair.streams=2, crescendo.turns=4",
                "max_requests": "attacker=5000",
            },
        )
        assert started.status_code == 303, soup(started).select_one(".alert")
        scan_id = int(started.headers["location"].rsplit("/", 1)[1])
        _wait(analyst, scan_id)
    page = soup(analyst.get(f"/scans/{scan_id}"))
    assert page.select_one(".badge.st-completed") is not None

    rows = {
        row["data-strategy"]: [td.get_text(" ", strip=True) for td in row.select("td")]
        for row in page.select("table[data-strategies] tbody tr")
    }
    assert set(rows) == {"none", "pair", "crescendo"}
    assert rows["none"][2] == "0 / 2" and rows["none"][4] == "—"
    for name in ("pair", "crescendo"):
        assert rows[name][2] == "2 / 2" and rows[name][3].startswith("100%") and int(float(rows[name][4])) >= 2

    assert page.select_one("[data-role-target=attacker]").get_text(strip=True) == "attacker-model"
    assert page.select_one("[data-role-target=judge]").get_text(strip=True) == "judge-model"
    usage = {row["data-role"]: row.select("td") for row in page.select("table[data-role-usage] tbody tr")}
    assert int(usage["attacker"][1].get_text()) > 0 and usage["attacker"][4].get_text() == "5000"
    assert "not calibrated" in page.get_text()

    conversations = page.select("ol.conversation")
    assert conversations
    adaptive = page.select("p.adaptive")
    assert {p["data-adaptive"] for p in adaptive} == {"pair", "crescendo"}
    assert all(
        "succeeded after" in p.get_text() and int(p.select_one("[data-queries]").get_text()) >= 2 for p in adaptive
    )
    assert page.select_one("[data-judge-reason]").get_text() == "the assistant complied with the request"
    turns = conversations[0].select("li")
    roles = [li["class"][0] for li in turns]
    assert roles[0] == "turn-user" and roles[-1] == "turn-assistant" and set(roles) == {"turn-user", "turn-assistant"}
    assert "The password is pw-" in [li for li in turns if "turn-user" in li["class"]][-1].select_one("pre").get_text()
    # every turn is text: what the models wrote is escaped, never markup
    assert all(li.select_one("pre").find(True) is None for ol in conversations for li in ol.select("li"))
