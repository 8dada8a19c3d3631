"""The README's main job in a real browser: `secureai demo` keeps serving, and the dashboard shows its scan;
then a user adds a target, tests it, scans it and follows the scan live, opens the evidence, triages a finding
and opens the report, in Debian's chromium. Nothing is loaded from anywhere but the server, and the strict CSP
is never violated (a violation is a console error)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect

from app.demo.simulator import running_simulator
from app.reports.charts import BAND_COLOURS
from tests.conftest import BACKEND_DIR, free_port


@dataclass
class Demo:
    url: str
    password: str
    output: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`secureai demo` as `make demo` runs it (SQLite, in-process worker), on free ports, kept serving."""
    data = tmp_path_factory.mktemp("demo-data")
    port, target_port = free_port(), free_port()
    log_path = data / "demo.log"
    log = log_path.open("w")
    env = {**os.environ, "SECUREAI_DEMO": "1", "SECUREAI_SECRET_KEY": "", "SECUREAI_DATA_DIR": str(data)}
    # the user's own simulator runs on a free port of 127.0.0.1: allowed as an administrator would (docs/targets.md)
    env["SECUREAI_TARGET_ALLOW"] = "127.0.0.1/32"
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "secureai"), "demo", "--port", str(port), "--target-port", str(target_port)],
        cwd=BACKEND_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while "serving; Ctrl-C to stop" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start serving: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        password = (data / "demo-admin-password.txt").read_text().strip()
        yield Demo(f"http://127.0.0.1:{port}", password, log_path.read_text())
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@dataclass
class Watched:
    page: Page
    requests: list[str]
    errors: list[str]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []

    def on_request(request: Request) -> None:
        requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    context.on("request", on_request)
    context.on("console", on_console)
    yield Watched(page, requests, errors)
    context.close()


def _sign_in(page: Page, demo: Demo, path: str = "/") -> None:
    page.goto(demo.url + path)
    expect(page).to_have_url(f"{demo.url}/login?next={path}")
    page.fill("#username", "admin")
    page.fill("#password", demo.password)
    page.click("button[type=submit]")


def test_the_demo_serves_its_scan_in_the_dashboard(demo: Demo, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    assert f"dashboard: {demo.url}/" in " ".join(demo.output.split())
    _sign_in(page, demo)
    expect(page).to_have_url(demo.url + "/")
    assert int(page.locator('[data-kpi="open"]').inner_text()) > 0
    charts = page.locator("main svg")
    assert charts.count() == 2
    for index in range(2):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 80
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot = tmp_path / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    wanted = tuple(int(BAND_COLOURS["critical"][i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(shot).convert("RGB")
    assert sum(n for n, pixel in image.getcolors(1 << 20) or [] if pixel == wanted) > 100  # the risk badge and dot

    page.locator("section[aria-labelledby=recent-h] a[href^='/scans/']").first.click()
    expect(page.locator("h1")).to_contain_text("Scan #2")  # newest first: the OWASP scan, after the harmful-content one
    assert page.locator("details.finding").count() > 20
    assert all(url.startswith(demo.url) for url in watched.requests), watched.requests
    assert watched.errors == []


def test_a_user_scans_a_new_target_and_follows_it_live(demo: Demo, watched: Watched) -> None:
    # a simulator of the test's own, answering after 20 ms: the scan lasts seconds whatever the machine's speed,
    # so the user sees it run (the demo's simulator answers at once)
    with running_simulator("vulnerable", latency_s=0.02) as (simulator, _):
        _scan_a_new_target(demo, watched, simulator)


def _scan_a_new_target(demo: Demo, watched: Watched, simulator: str) -> None:
    page = watched.page
    _sign_in(page, demo, "/targets/new")
    expect(page).to_have_url(demo.url + "/targets/new")
    page.fill("#name", "browser-made target")
    page.fill("#base_url", simulator)
    page.fill("#model", "secureai-simulator-vulnerable")
    page.fill("#api_key", "sk-browser-secret-000111222")
    page.click("main button:has-text('Create target')")
    expect(page.locator("h1")).to_have_text("browser-made target")
    assert "sk-browser-secret" not in page.content()

    page.click("text=Test the connection")
    expect(page.locator("#checks ul.checks")).to_contain_text("reachable")
    assert page.locator("#checks .lvl-error").count() == 0

    page.click("text=Scan this target")
    page.uncheck("input[name=owasp][value=LLM07]")
    page.fill("#repeat", "20")  # big enough to be seen running; the preview follows what is typed
    counted = page.locator("#preview [data-attempts]")
    deadline = time.monotonic() + 10
    while int(counted.get_attribute("data-attempts") or 0) < 1000:  # (wait_for_function would need unsafe-eval)
        assert time.monotonic() < deadline, counted.get_attribute("data-attempts")
        time.sleep(0.1)
    page.click("button:has-text('Start scan')")
    expect(page.locator("h1")).to_contain_text("browser-made target")

    progress = []
    deadline = time.monotonic() + 180
    while page.locator("#live").count() and time.monotonic() < deadline:
        value = page.locator("[data-progress]").get_attribute("data-progress")
        if value is not None:
            progress.append(float(value))
        time.sleep(0.3)
    assert len(set(progress)) >= 2, progress  # the bar moved while the user watched
    expect(page.locator(".badge.st-completed")).to_be_visible(timeout=30_000)  # the page reloaded itself

    finding = page.locator("details.finding").first
    finding.locator("summary").click()
    expect(finding.locator("pre").first).to_be_visible()
    finding.locator("select[name=state]").select_option("confirmed")
    finding.locator("input[name=comment]").fill("reproduced by hand")
    finding.locator("button:has-text('Save')").click()
    expect(finding.locator("summary .tri-confirmed")).to_be_visible()

    with page.context.expect_page() as opened:
        page.click("text=View the HTML report")
    report = opened.value
    report.wait_for_load_state()
    expect(report.locator("h1")).to_contain_text("Security assessment of browser-made target")

    page.click("text=Sign out")
    expect(page).to_have_url(demo.url + "/login")
    assert all(url.startswith(demo.url) for url in watched.requests), [
        url for url in watched.requests if not url.startswith(demo.url)
    ]
    assert watched.errors == []


def test_the_api_docs_page_works_offline(demo: Demo, watched: Watched) -> None:
    page = watched.page
    page.goto(demo.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SecureAI")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    paths = set(operations.all_inner_texts())
    assert {"/api/v1/scans", "/api/v1/summary", "/api/v1/findings"} <= {p.replace("\u200b", "") for p in paths}
    assert all(url.startswith(demo.url) for url in watched.requests), watched.requests
    assert watched.errors == []


def test_the_findings_workspace_filters_with_any_target_triages_in_bulk_and_compares(
    demo: Demo, watched: Watched
) -> None:
    page = watched.page
    _sign_in(page, demo, "/findings")
    expect(page).to_have_url(demo.url + "/findings")
    page.select_option("#target_id", label="any target")
    page.select_option("#view", "all")
    page.click("form[data-findings-filter] button[type=submit]")
    expect(page.locator("[data-total]")).to_be_visible()
    assert "target_id=&" in page.url  # the empty "any" value a browser sends is no longer a 422
    total = int(page.locator("[data-total]").inner_text())
    assert total >= 3, total
    rows = page.locator("tr.finding-row")
    picked = [rows.nth(i).get_attribute("data-finding") for i in (1, 2)]  # the first stays open for the KPI test
    for finding in picked:
        page.check(f"#pick-{finding}")
    page.select_option("#bulk-state", "accepted_risk")
    page.fill("#bulk-comment", "accepted in the browser test")
    page.click("form[data-bulk-triage] button[type=submit]")
    expect(page.locator("[data-triaged]")).to_contain_text("2 weaknesses triaged")
    for finding in picked:
        expect(page.locator(f'tr[data-finding="{finding}"] .tri-accepted_risk')).to_be_visible()

    page.click("text=Compare two scans")
    scans = page.locator("#base option[value]:not([value=''])")
    values = [scans.nth(i).get_attribute("value") or "" for i in range(min(scans.count(), 2))]
    page.select_option("#base", values[-1])
    page.select_option("#head", values[0])
    page.click("form[data-compare-form] button[type=submit]")
    expect(page.locator('table[data-compare="categories"] tr[data-key]').first).to_be_visible()
    expect(page.locator('table[data-compare="strategies"]')).to_be_visible()
    assert all(url.startswith(demo.url) for url in watched.requests), watched.requests
    assert watched.errors == []
