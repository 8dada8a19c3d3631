"""The scan result as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched).

The same template also feeds the PDF (`app.reports.pdf`): `medium="print"` switches to paged layout, adds a
table of contents, shows one example of evidence for each of the most severe findings only (every example of
every finding when asked) and lists probes one per line once a table would be too slow for WeasyPrint to lay
out. The browser page always shows everything.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app import __version__
from app.engine.detectors.measured import measured_figures
from app.reports.charts import SEVERITY_COLOURS, Bar, bar_chart, compliance_chart, interval_chart, risk_gauge
from app.reports.view import OUTCOMES, ProbeRow, ReportView, build_view, percent, trust_table

__all__ = [
    "CHART_ROWS",
    "PRINT_EVIDENCE_FINDINGS",
    "PRINT_EXAMPLES",
    "PRINT_TABLE_PROBES",
    "REPORT_CSP",
    "render_html",
    "report_page",
]

Medium = Literal["screen", "print"]
TEMPLATES = files("app.reports") / "templates"
#: what the report page may load: its own inline stylesheet and data: images, nothing else (also sent as a
#: header when the dashboard shows a report inline)
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
#: findings drawn in the ASR interval chart (the table below it lists every probe)
CHART_ROWS = 30
#: findings whose evidence the PDF shows; the rest are counted and listed in the probe table
PRINT_EVIDENCE_FINDINGS = 25
#: examples of evidence the PDF shows per finding (the HTML and JSON reports hold them all)
PRINT_EXAMPLES = 1
#: where the PDF's table of contents goes, once the sections it lists are rendered
TOC_MARK = "<!-- table of contents -->"
_SECTION = re.compile(r'<section id="([\w-]+)">\s*<h2[^>]*>(.*?)</h2>', re.DOTALL)
#: above this many probes the PDF lists them one per line instead of a table (tables lay out ~4x slower)
PRINT_TABLE_PROBES = 400
#: lines per block of that listing: WeasyPrint lays out a block of lines about twice as fast as single lines
LISTING_BLOCK = 20


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(percent=percent, outcomes=OUTCOMES, version=__version__)
    return environment


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def _listing_line(row: ProbeRow) -> str:
    """One probe as a fixed-width line, for the PDF's compact probe listing."""
    scored = f"{row.counts['vulnerable']}/{row.scored}"
    return f"{row.severity:<9}{row.owasp:<7}{row.attempts:>6}{scored:>11}  {row.asr_text:<17} {row.probe_id}"


def _listing(rows: list[ProbeRow]) -> list[str]:
    """The compact probe listing as blocks of `LISTING_BLOCK` lines."""
    lines = [_listing_line(row) for row in rows]
    return ["\n".join(lines[start : start + LISTING_BLOCK]) for start in range(0, len(lines), LISTING_BLOCK)]


def _charts(view: ReportView) -> dict[str, Any]:
    severity = [Bar(name, count, SEVERITY_COLOURS[name]) for name, count in view.severity_counts]
    category = [Bar(f"{c.owasp} {c.title}", c.findings, "#374151") for c in view.categories]
    top = [finding.row for finding in view.findings[:CHART_ROWS]]
    return {
        "gauge": risk_gauge(view.risk_score, view.band),
        "severity": bar_chart(severity, "Findings by severity", width=420, label_width=90),
        "category": bar_chart(category, "Findings by OWASP LLM category", width=520, label_width=220),
        "intervals": interval_chart(top, "Attack success rate with 95% interval") if top else "",
        "compliance": compliance_chart(view.compliance, "Requirements per framework by status"),
    }


def _with_contents(page: str) -> str:
    """The page with its table of contents: each section's heading, linked, with its page number (print CSS)."""
    entries = "".join(f'<li><a href="#{section}">{title.strip()}</a></li>' for section, title in _SECTION.findall(page))
    contents = (
        f'<nav class="toc" aria-labelledby="toc-h"><p id="toc-h" class="toc-title">Contents</p><ol>{entries}</ol></nav>'
    )
    return page.replace(TOC_MARK, contents, 1)


def report_page(document: dict[str, Any], medium: Medium, *, pii: bool = False, all_evidence: bool = False) -> str:
    """The report page for `medium` from a redacted scan-result document; in print, `all_evidence` details
    every finding with every example instead of one example of each of the most severe."""
    condensed = medium == "print" and not all_evidence
    view = build_view(document, evidence_limit=PRINT_EVIDENCE_FINDINGS if condensed else None)
    detailed = view.findings[:PRINT_EVIDENCE_FINDINGS] if condensed else view.findings
    page = (
        _environment()
        .get_template("report.html.j2")
        .render(
            view=view,
            medium=medium,
            pii=pii,
            css=_css(),
            csp=REPORT_CSP,
            charts=_charts(view),
            chart_rows=CHART_ROWS,
            detailed=detailed,
            trust=trust_table(),
            trust_cases=measured_figures().get("corpus_cases", 0),
            listing=_listing(view.probes) if medium == "print" and len(view.probes) > PRINT_TABLE_PROBES else None,
            examples=PRINT_EXAMPLES if condensed else None,
        )
    )
    return _with_contents(page) if medium == "print" else page


def render_html(document: dict[str, Any], *, pii: bool = False) -> str:
    return report_page(document, "screen", pii=pii)
