"""The HTML report in a real browser: it loads nothing, draws its charts, and its evidence opens on a click."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Request

from app.reports.charts import BAND_COLOURS
from app.reports.render import render

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "scan-result-vulnerable.json"


def test_the_html_report_renders_offline_with_charts_and_evidence(browser: Browser, tmp_path: Path) -> None:
    document = json.loads(FIXTURE.read_text(encoding="utf-8"))
    page_file = tmp_path / "report.html"
    page_file.write_bytes(render(document, "html"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    failures: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    page.on("console", lambda message: failures.append(message.text) if message.type == "error" else None)
    page.goto(page_file.as_uri())
    assert requests == [page_file.as_uri()]  # the page itself, and nothing else
    assert failures == []  # no CSP violation, no script error

    charts = page.locator("svg")
    assert charts.count() == 5
    for index in range(5):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 40
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot))
    image = Image.open(shot).convert("RGB")
    wanted = tuple(int(BAND_COLOURS["critical"][i : i + 2], 16) for i in (1, 3, 5))
    gauge = sum(count for count, pixel in image.getcolors(1 << 20) or [] if pixel == wanted)
    assert gauge > 500  # the risk gauge is drawn above the fold in the band's colour

    # the first findings' evidence is open; a later one opens on a click
    closed = page.locator("article.finding").nth(5).locator("details").first
    assert not closed.locator("pre").first.is_visible()
    closed.locator("summary").click()
    assert closed.locator("pre").first.is_visible()

    page.close()
