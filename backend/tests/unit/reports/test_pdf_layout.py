"""The PDF as a document to read: a table of contents with the right page numbers, bookmarks for its sections and
findings, one example of evidence per finding unless every example is asked for, and no heading left alone at the
foot of a page."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from app.cli.main import app
from app.reports import html as html_report
from app.reports.render import render
from tests.conftest import pdf_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
SECTIONS = [
    "Executive summary",
    "Findings by severity and category",
    "Attack success rate per probe",
    "Findings and evidence",
    "Compliance matrix",
    "Methodology",
    "Scan configuration",
]
FOOTER = re.compile(r"^(SecureAI report · .*|page \d+ of \d+)$")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"scan-result-{name}.json").read_text(encoding="utf-8"))
    return data


def _outline(pdf: Path) -> list[tuple[int, int, str]]:
    """The PDF's bookmarks as (depth, page, title), as poppler reads them."""
    xml = subprocess.run(
        ["pdftohtml", "-xml", "-i", "-stdout", "-q", str(pdf)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    found: list[tuple[int, int, str]] = []
    depth = 0
    for tag in re.finditer(r'<outline>|</outline>|<item page="(\d+)">([^<]*)</item>', xml):
        if tag.group(0) == "<outline>":
            depth += 1
        elif tag.group(0) == "</outline>":
            depth -= 1
        else:
            found.append((depth, int(tag.group(1)), tag.group(2).replace("&amp;", "&").replace("&#39;", "'")))
    return found


def _page_lines(pdf: Path, page: int) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [line.strip() for line in text.splitlines() if line.strip() and not FOOTER.match(line.strip())]


def test_the_pdf_has_contents_bookmarks_one_example_per_finding_and_no_lone_heading(tmp_path: Path) -> None:
    document = load("vulnerable")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(document, "pdf"))
    outline = _outline(pdf)
    sections = {title: page for depth, page, title in outline if depth == 2}
    assert list(sections) == SECTIONS
    findings = [title for depth, _, title in outline if depth == 3 and title.split(" ", 1)[0] in ("critical", "high")]
    assert findings[0] == f"critical {document['findings'][0]['title']}"  # each detailed finding is a bookmark

    first_page = "\n".join(_page_lines(pdf, 1))
    for title, page in sections.items():  # the contents give each section's page, as the bookmarks do
        assert re.search(rf"{re.escape(title)}[ .]*{page}\b", first_page), (title, page)

    text = pdf_text(pdf)
    assert "Evidence 1:" in text and "Evidence 2:" not in text
    several = sum(
        1 for finding in document["findings"][: html_report.PRINT_EVIDENCE_FINDINGS] if len(finding["evidence"]) > 1
    )
    assert several and text.count("more example(s) of this finding") == several

    # a heading is never the last thing on its page: what it heads follows it there
    pages = {page: " ".join(_page_lines(pdf, page)).casefold() for _, page, _ in outline}
    for _, page, title in outline[1:]:  # the document's title is followed by the whole report
        wanted = " ".join(title.split()).casefold()
        at = pages[page].find(wanted)
        assert at >= 0, (title, page)
        assert pages[page][at + len(wanted) :].strip(), f"{title!r} ends page {page}"


def test_every_example_of_every_finding_on_request() -> None:
    document = load("vulnerable")
    condensed = html_report.report_page(document, "print")
    full = html_report.report_page(document, "print", all_evidence=True)
    examples = sum(len(finding["evidence"]) for finding in document["findings"])
    assert full.count("<h4>Evidence ") == examples > condensed.count("<h4>Evidence ")
    assert "more example(s)" not in full and "most severe of" not in full
    assert 'class="toc"' in full and 'class="toc"' not in html_report.report_page(document, "screen")


def test_secureai_report_all_evidence_writes_every_example(tmp_path: Path) -> None:
    document = load("inconclusive")
    source = tmp_path / "result.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "full.pdf"
    result = CliRunner().invoke(app, ["report", str(source), "-f", "pdf", "--all-evidence", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = pdf_text(out)
    most = max(len(finding["evidence"]) for finding in document["findings"])
    assert most > 1 and f"Evidence {most}:" in text and "more example(s)" not in text
