"""One entry point for every report format: source document in, bytes of the chosen format out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.reports.redaction import redact_result

#: format -> (file extension, media type)
FORMATS: dict[str, tuple[str, str]] = {
    "json": ("json", "application/json"),
    "sarif": ("sarif", "application/sarif+json"),
    "junit": ("xml", "application/xml"),
    "csv": ("csv", "text/csv"),
    "md": ("md", "text/markdown"),
}


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _renderer(name: str) -> Callable[[dict[str, Any]], str]:
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
    raise ValueError(f"unknown report format {name!r}; choose one of {', '.join(FORMATS)}")


def render(document: dict[str, Any], name: str, *, pii: bool = False) -> str:
    """The report in format `name`; credentials are always masked first, personal data when `pii`."""
    return _renderer(name)(redact_result(document, pii=pii))
