"""The HTML and PDF reports, rendered from real scan results: content, self-containment, escaping, pages."""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.reports import html as html_report
from app.reports.charts import BAND_COLOURS, SEVERITY_COLOURS
from app.reports.render import render
from app.reports.view import build_view
from tests.conftest import pdf_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
FRAMEWORK_NAMES = ("OWASP Top 10 for LLM Applications", "EU Artificial Intelligence Act", "MITRE ATLAS")
SECTIONS = ("Executive summary", "Findings by severity and category", "Attack success rate per probe")
SECTIONS += ("Findings and evidence", "Compliance matrix", "Methodology", "Scan configuration")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"scan-result-{name}.json").read_text(encoding="utf-8"))
    return data


class _Page(HTMLParser):
    """Every start tag with its attributes, and the text of <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def test_the_html_report_shows_every_section_probe_and_framework_from_the_scan() -> None:
    document = load("vulnerable")
    page = render(document, "html").decode()
    for heading in SECTIONS:
        assert f">{heading}" in page, heading
    for entry in document["probes"]:
        assert entry["probe_id"] in page
    assert f"{document['summary']['risk_score']:.1f}" in page
    for name in FRAMEWORK_NAMES:
        assert name in page
    view = build_view(document)
    counts = ", ".join(f"{count} {severity}" for severity, count in view.severity_counts if count)
    assert f"Findings by severity: {counts}." in page
    # every finding's evidence, collapsed except for the first ones
    assert page.count('<article class="finding"') == len(document["findings"])
    assert page.count("<details") == sum(len(f["evidence"]) for f in document["findings"])


def test_the_html_report_loads_nothing_and_runs_nothing() -> None:
    page = parse(render(load("vulnerable"), "html").decode())
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in {"src", "href", "action", "poster", "data"}:
                pytest.fail(f"<{tag} {name}={value}> would fetch or navigate")
    assert "url(" not in "".join(page.styles) and "@import" not in "".join(page.styles)
    assert sum(tag == "svg" for tag, _ in page.tags) == 5  # gauge, severity, category, intervals, compliance
    csp = next(attrs for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv"))
    assert "default-src 'none'" in (csp["content"] or "")


def test_text_written_by_the_target_cannot_inject_markup_or_reorder_the_page() -> None:
    document = load("vulnerable")
    hostile = '<script>alert(1)</script><img src=https://evil.example/x onerror=alert(2)> "\u202eevil\x00'
    evidence = document["findings"][0]["evidence"][0]
    evidence["response"] = hostile
    evidence["detectors"][0]["matched"] = hostile
    document["findings"][0]["title"] = hostile
    document["target"] = hostile
    page = render(document, "html").decode()
    tags = {tag for tag, _ in parse(page).tags}
    assert "script" not in tags and "img" not in tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\u202e" not in page and "\x00" not in page


def test_inconclusive_and_clean_scans_say_so() -> None:
    inconclusive = render(load("inconclusive"), "html").decode()
    assert "<strong>Inconclusive.</strong>" in inconclusive and "treat every" in inconclusive
    clean = render(load("clean"), "html").decode()
    assert "No probe succeeded: there is no finding." in clean and "No attack succeeded." in clean
    assert "Inconclusive." not in clean


def test_the_compliance_matrix_names_gaps_and_their_kind() -> None:
    view = build_view(load("vulnerable"))
    owasp = next(c for c in view.compliance if c.framework_id == "owasp-llm-2025")
    status = {r.requirement_id: r.status for r in owasp.requirements}
    assert status["LLM07"] == "failed" and status["LLM01"] == "failed"
    assert status["LLM10"] == "not_tested"  # the scan selected no LLM10 probe
    assert owasp.coverage_pct == round(100 * sum(s != "not_tested" for s in status.values()) / len(status), 1)
    page = render(load("vulnerable"), "html").decode()
    assert "probes exist but were not selected in this scan" in page
    assert "no SecureAI probe can evidence this" in page


def test_a_probe_the_registry_does_not_know_maps_by_its_owasp_category() -> None:
    document = load("clean")
    document["probes"].append({**document["probes"][0], "probe_id": "garak.dan.Dan_11_0", "owasp": "LLM10"})
    owasp = next(c for c in build_view(document).compliance if c.framework_id == "owasp-llm-2025")
    llm10 = next(r for r in owasp.requirements if r.requirement_id == "LLM10")
    assert (llm10.status, llm10.probes) == ("passed", ["garak.dan.Dan_11_0"])


def _pages(pdf: Path, tmp_path: Path, dpi: int = 40) -> list[Image.Image]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    return [Image.open(path).convert("RGB") for path in sorted(tmp_path.glob("page-*.png"))]


def _has_colour(image: Image.Image, hex_colour: str, tolerance: int = 12, at_least: int = 20) -> bool:
    wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    hits = sum(
        count
        for count, pixel in image.getcolors(maxcolors=1 << 20) or []
        if all(abs(channel - want) <= tolerance for channel, want in zip(pixel, wanted, strict=True))
    )
    return hits >= at_least


def test_the_pdf_reads_as_the_report_and_its_pages_show_the_charts(tmp_path: Path) -> None:
    document = load("vulnerable")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(document, "pdf"))
    text = pdf_text(pdf)
    for heading in SECTIONS:
        assert heading in text, heading
    top = document["findings"][0]
    assert top["title"] in text and "Remediation" in text
    assert f"{document['summary']['risk_score']:.1f}" in text and "risk critical" in text
    assert "100% (34%–100%)" in text  # a per-probe ASR with its interval
    assert f"details the {html_report.PRINT_EVIDENCE_FINDINGS} most severe of {len(document['findings'])}" in text
    assert "page 1 of" in text and "SecureAI report · openai:secureai-simulator-vulnerable" in text
    pages = _pages(pdf, tmp_path)
    assert len(pages) > 10
    for number, page in enumerate(pages, 1):
        assert len(page.getcolors(maxcolors=1 << 20) or []) > 2, f"page {number} is blank"
    assert _has_colour(pages[0], BAND_COLOURS["critical"])  # the risk gauge on the first page
    charts = pages[1]  # severity bars
    assert all(_has_colour(charts, SEVERITY_COLOURS[s]) for s in ("critical", "high", "medium", "low"))


def test_the_pdf_lists_a_large_scan_one_probe_per_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "PRINT_TABLE_PROBES", 10)
    document = load("vulnerable")
    page = html_report.report_page(document, "print")
    blocks = -(-len(document["probes"]) // html_report.LISTING_BLOCK)
    assert page.count('<div class="listing">') == blocks
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(document, "pdf"))
    text = pdf_text(pdf)
    row = build_view(document).probes[0]
    assert f"{row.severity:<9}{row.owasp:<7}" in text and row.probe_id in text


def test_a_probe_without_an_owasp_category_is_reported_and_evidences_nothing() -> None:
    document = load("clean")
    stray = {**document["probes"][0], "probe_id": "import.unknown", "owasp": None, "severity": "bogus"}
    document["probes"].append(stray)
    page = render(document, "html").decode()
    assert "import.unknown" in page
    view = build_view(document)
    assert all("import.unknown" not in r.probes for c in view.compliance for r in c.requirements)


def test_the_report_shows_each_detectors_measured_precision_beside_its_verdicts() -> None:
    from app.engine.detectors.measured import measured_figures

    figures = measured_figures()
    assert figures["corpus_cases"] >= 400, "bench/verdicts.py --write records the figures reports show"
    document = load("vulnerable")
    page = render(document, "html").decode()
    fired = {hit["detector"] for f in document["findings"] for item in f["evidence"] for hit in item["detectors"]}
    measured = fired & set(figures["by_detector"])
    assert measured, fired
    for name in measured:
        precision = figures["by_detector"][name]["precision"]
        assert f"right in {precision:.0%} of its vulnerable verdicts" in page, name
    assert f"measured on\n  {figures['corpus_cases']} transcripts labelled by hand" in page
    assert page.count('<table class="trust-table">') == 1
