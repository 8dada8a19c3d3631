"""Every dashboard page against WCAG 2.1 AA with axe-core, at desktop and phone width; and the housekeeping forms
driven as a person does (delete a scan, the confirmation before a revoke, the token's copy button).

axe-core is vendored (backend/app/web/static/vendor/README.md records its hash and licence) and injected from
/static, so the strict CSP stays on while it runs. The pages are those of the running demo (`secureai demo`).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect

from tests.e2e.test_dashboard_browser import Demo, demo  # noqa: F401 - the module's running demo
from tests.e2e.test_packs_browser import PACK

AXE = "/static/vendor/axe-4.14.1.min.js"
#: The rules of WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
#: Pages reached from the navigation, plus pages of one row (found from the lists) and an error page. Not /docs:
#: it is Swagger UI's own markup (vendored), not the dashboard's.
FIXED_PAGES = ["/", "/targets", "/targets/new", "/scans", "/scans/new", "/findings", "/findings?view=latest"]
FIXED_PAGES += ["/compliance", "/packs"]
ADMIN_PAGES = ["/audit", "/users", "/tokens", "/scans/999999"]


def _violations(page: Page) -> list[str]:
    """axe's WCAG 2.1 AA violations on the page as it is now, one line each with the first offending nodes."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return result.violations.map((v) => ({id: v.id, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " | " + n.failureSummary)}));
        }""",
        WCAG_21_AA,
    )
    return [f"{v['id']} ({v['help']}): {' ;; '.join(v['nodes'])}" for v in found]


def _sign_in(page: Page, demo: Demo) -> None:  # noqa: F811 - the fixture's value
    page.goto(demo.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", demo.password)
    page.click("main button[type=submit]")
    expect(page).to_have_url(demo.url + "/")


def _one_of_each(page: Page, demo: Demo) -> list[str]:  # noqa: F811
    """One page of each kind that shows a single row: a target (and its edit and delete pages), a scan (and its
    delete page), a finding, a probe pack and its version, as the lists link to them."""
    page.goto(demo.url + "/packs")  # the demo has no user pack: upload one, so its pages are swept too
    if page.locator("main a[href^='/packs/']").count() == 0:
        page.fill("#content", PACK)
        page.click("main button:has-text('Upload')")
        expect(page).to_have_url(re.compile(r"/packs/travel_desk\?uploaded=1$"))
    found: list[str] = []
    for listing, pattern in (
        ("/targets", r"^/targets/\d+$"),
        ("/scans", r"^/scans/\d+$"),
        ("/findings", r"^/findings/\d+$"),
        ("/packs", r"^/packs/[^/]+$"),
    ):
        page.goto(demo.url + listing)
        hrefs = page.eval_on_selector_all("main a[href]", "links => links.map((a) => a.getAttribute('href'))")
        match = next((href for href in hrefs if re.match(pattern, href.split("?")[0])), None)
        if match is not None:
            found.append(match)
    for href in list(found):
        if href.startswith("/targets/"):
            found += [f"{href}/edit", f"{href}/delete"]
        elif href.startswith("/scans/"):
            found.append(f"{href}/delete")
        elif href.startswith("/packs/"):
            page.goto(demo.url + href)
            versions = page.eval_on_selector_all(
                "main a[href*='/versions/']", "a => a.map((x) => x.getAttribute('href'))"
            )
            found += versions[:1]
    assert any(href.startswith("/scans/") for href in found) and any(href.startswith("/targets/") for href in found)
    page.goto(demo.url + "/scans")
    scans = page.eval_on_selector_all("main a[href^='/scans/']", "a => a.map((x) => x.getAttribute('href'))")
    ids = [href.rsplit("/", 1)[1] for href in scans if re.match(r"^/scans/\d+$", href)]
    found.append(f"/compare?base={ids[-1]}&head={ids[0]}")  # the oldest and the newest scan side by side
    return found


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_has_no_wcag_21_aa_violation(demo: Demo, browser: Browser, width: str) -> None:  # noqa: F811
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    report: dict[str, list[str]] = {}
    page.goto(demo.url + "/login")
    report["/login"] = _violations(page)
    _sign_in(page, demo)
    pages = FIXED_PAGES + _one_of_each(page, demo) + ADMIN_PAGES
    for path in pages:
        page.goto(demo.url + path)
        report[path] = _violations(page)
    context.close()
    assert {path: found for path, found in report.items() if found} == {}
    assert len(report) >= 22 and any("/versions/" in path for path in report)
    # the 404 page logs its status; nothing else may (a CSP violation would be an error here)
    assert [e for e in errors if "404" not in e] == []


def test_housekeeping_forms_work_as_a_person_uses_them(demo: Demo, browser: Browser) -> None:  # noqa: F811
    context = browser.new_context(viewport=WIDTHS["desktop"], permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    _sign_in(page, demo)

    # a new token: the least role is chosen unless someone picks another; the once-shown value copies
    page.goto(demo.url + "/tokens")
    expect(page.locator("select#role")).to_have_value("viewer")
    page.fill("#name", "ci-from-browser")
    page.click("main button:has-text('Create token')")
    shown = page.locator("[data-token-once]").inner_text().strip()
    page.click("button[data-copy]")
    expect(page.locator("button[data-copy]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == shown

    # revoking asks first: Cancel keeps the token, OK revokes it
    row = page.locator("tr", has_text="ci-from-browser")
    answers: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        answers.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    row.locator("button:has-text('Revoke')").click()
    expect(row).to_contain_text("active")
    page.once("dialog", lambda dialog: answer(dialog, True))
    row.locator("button:has-text('Revoke')").click()
    expect(page.locator("tr", has_text="ci-from-browser")).to_contain_text("revoked")
    assert answers == ["Revoke the token ci-from-browser? Anything that uses it stops working at once."] * 2

    # deleting a scan: its page leads to a confirmation that counts what goes, and only its button deletes
    page.goto(demo.url + "/scans/1")
    page.click("main a:has-text('Delete…')")
    expect(page.locator("h1")).to_contain_text("Delete Scan #1")
    expect(page.locator("[data-removal]")).to_contain_text("finding(s)")
    page.click("main button:has-text('Delete scan')")
    expect(page).to_have_url(demo.url + "/scans")
    assert page.locator("main a[href='/scans/1']").count() == 0
    assert page.goto(demo.url + "/scans/1").status == 404  # type: ignore[union-attr]

    # the audit log, filtered as the form submits it, shows the deletion
    page.goto(demo.url + "/audit")
    page.select_option("select#action", "scan_delete")
    page.click("main button:has-text('Filter')")
    expect(page).to_have_url(re.compile(r"/audit\?actor=&action=scan_delete&since=&until="))
    expect(page.locator("tbody tr")).to_have_count(1)

    # the PDF is made on request: the page says so while it is being made, then saves it
    page.goto(demo.url + "/scans/2")
    with page.expect_download(timeout=180_000) as download:
        page.click("main a[data-busy]:text-is('PDF')")
        expect(page.locator("#report-busy")).to_contain_text("Making the PDF")
    assert download.value.suggested_filename == "secureai-scan-2.pdf"
    expect(page.locator("#report-busy")).to_contain_text("secureai-scan-2.pdf is ready")
    context.close()
