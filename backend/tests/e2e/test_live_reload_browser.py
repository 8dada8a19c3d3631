"""The dashboard's htmx guard (static/app.js), in chromium with the shipped htmx and the dashboard's htmx settings:
once an answer has asked for a reload (HX-Refresh, as a finished scan's progress poll does), the poll timer starts
no request the reload would abort. The reload is held back for a while, as on a loaded machine, so the timer fires
during it and its request is still unanswered when the page goes. (When the navigation aborts such a request htmx
logs `htmx:sendAbort` as a console error; whether chromium reports it before the page is gone depends on timing,
so the test counts the requests instead.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

from app.web.app import STATIC_DIR
from app.web.templating import TEMPLATE_DIR

ORIGIN = "http://dashboard.test"


def _page_html(guard: bool) -> str:
    config = next(
        line for line in (TEMPLATE_DIR / "base.html").read_text().splitlines() if 'name="htmx-config"' in line
    )
    scripts = '<script src="/static/vendor/htmx-2.0.11.min.js" defer></script>\n'
    if guard:
        scripts += '<script src="/static/app.js" defer></script>\n'
    return (
        f"<!DOCTYPE html><html><head>{config}{scripts}</head><body>"
        '<div id="live" hx-get="/live" hx-trigger="every 300ms" hx-swap="outerHTML">running</div>'
        "</body></html>"
    )


class Harness:
    def __init__(self, page: Page, guard: bool) -> None:
        self.page = page
        self.guard = guard
        self.polls: list[str] = []
        self.errors: list[str] = []
        self.held: list[Route] = []
        self.held_polls: list[Route] = []
        self.loads = 0
        page.on("console", self._console)
        page.on("request", self._request)
        page.route(f"{ORIGIN}/**", self._serve)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: Request) -> None:
        if request.url.endswith("/live"):
            self.polls.append(request.url)

    def _serve(self, route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/static/"):
            body = (STATIC_DIR / path.removeprefix("/static/")).read_bytes()
            route.fulfill(status=200, body=body, content_type="text/javascript")
        elif path == "/live" and len(self.polls) == 1:  # the scan has ended: reload the page to show its results
            route.fulfill(status=200, body="<div>done</div>", headers={"HX-Refresh": "true"})
        elif path == "/live":  # a poll after that is still on its way when the page goes
            self.held_polls.append(route)
        elif self.loads == 0:
            self.loads += 1
            route.fulfill(status=200, body=_page_html(self.guard), content_type="text/html")
        else:  # the reload: held back until the test lets it through
            self.held.append(route)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _reload_after_the_poll_timer_fired(harness: Harness) -> None:
    harness.page.goto(ORIGIN + "/scans/1")
    harness.page.wait_for_timeout(1_500)  # the first poll asks for the reload; the timer fires four more times
    assert harness.held, "the page did not reload"
    harness.held[0].fulfill(status=200, body="<p>results</p>", content_type="text/html")
    harness.page.wait_for_load_state()


def test_no_poll_starts_once_a_reload_was_asked_for(page: Page) -> None:
    harness = Harness(page, guard=True)
    _reload_after_the_poll_timer_fired(harness)
    assert len(harness.polls) == 1
    assert harness.errors == []


def test_without_the_guard_a_poll_starts_during_the_reload(page: Page) -> None:
    # the case the guard exists for: the harness reproduces the request the reload then aborts
    harness = Harness(page, guard=False)
    _reload_after_the_poll_timer_fired(harness)
    assert len(harness.polls) > 1 and harness.held_polls
