"""One entry point for every report format: source document in, bytes of the chosen format out.

Credentials are masked before any renderer sees the document, personal data too when asked; each renderer
imports lazily, so a CI job writing SARIF never loads WeasyPrint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from app.reports.partial import partial_json
from app.reports.redaction import redact_result

#: format -> (file extension, media type)
FORMATS: dict[str, tuple[str, str]] = {
    "json": ("json", "application/json"),
    "sarif": ("sarif", "application/sarif+json"),
    "junit": ("xml", "application/xml"),
    "csv": ("csv", "text/csv"),
    "md": ("md", "text/markdown"),
    "html": ("html", "text/html"),
    "pdf": ("pdf", "application/pdf"),
}


def _json(document: dict[str, Any]) -> bytes:
    """Indented UTF-8 JSON. A lone surrogate (possible only in a hand-made input file) is not UTF-8: such a
    document is written with ASCII escapes instead."""
    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(document, indent=2) + "\n").encode("ascii")


def _renderer(name: str, pii: bool, all_evidence: bool = False) -> Callable[[dict[str, Any]], str | bytes]:
    if name == "json":
        return _json
    if name == "sarif":
        from app.reports.sarif import render_sarif

        return lambda document: _json(render_sarif(document))
    if name == "junit":
        from app.reports.junit import render_junit

        return render_junit
    if name == "csv":
        from app.reports.csv_export import render_csv

        return render_csv
    if name == "md":
        from app.reports.markdown import render_markdown

        return render_markdown
    if name == "html":
        from app.reports.html import render_html

        return lambda document: render_html(document, pii=pii)
    if name == "pdf":
        from app.reports.pdf import render_pdf

        return lambda document: render_pdf(document, pii=pii, all_evidence=all_evidence)
    raise ValueError(f"unknown report format {name!r}; choose one of {', '.join(FORMATS)}")


def render(document: dict[str, Any], name: str, *, pii: bool = False, all_evidence: bool = False) -> bytes:
    """The report in format `name` as bytes (text formats in UTF-8); credentials are always masked first,
    personal data when `pii`. Every format gets the document's `partial` block (None for a complete scan). The
    PDF shows one example of each finding unless `all_evidence`."""
    document = {**document, "partial": partial_json(document)}
    output = _renderer(name, pii, all_evidence)(redact_result(document, pii=pii))
    return output.encode("utf-8") if isinstance(output, str) else output
