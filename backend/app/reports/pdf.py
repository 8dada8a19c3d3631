"""The scan result as a PDF: the HTML report's template in its print medium, laid out by WeasyPrint.

The fetcher allows only `data:` URLs, so a report can never reach the network or the file system, whatever
text the scanned model wrote into the evidence.
"""

from __future__ import annotations

from typing import Any

from app.reports.html import report_page

__all__ = ["render_pdf"]


def render_pdf(document: dict[str, Any], *, pii: bool = False, all_evidence: bool = False) -> bytes:
    """PDF bytes of a redacted scan-result document (A4, page numbers, the target in every footer, a table of
    contents with page numbers, bookmarks for its sections and findings); one example per finding of the most
    severe findings, or every example of every finding with `all_evidence`."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    page = report_page(document, "print", pii=pii, all_evidence=all_evidence)
    fetcher = URLFetcher(allowed_protocols=["data"], fail_on_errors=False)
    pdf = HTML(string=page, url_fetcher=fetcher, base_url=None).write_pdf()
    assert pdf is not None  # write_pdf returns the bytes when given no target
    return bytes(pdf)
