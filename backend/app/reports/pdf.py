"""The scan result as a PDF: the HTML report's template in its print medium, laid out by WeasyPrint.

The fetcher allows only `data:` URLs, so a report can never reach the network or the file system, whatever
text the scanned model wrote into the evidence.
"""

from __future__ import annotations

from typing import Any

from app.reports.html import report_page

__all__ = ["render_pdf"]


def render_pdf(document: dict[str, Any], *, pii: bool = False) -> bytes:
    """PDF bytes of a redacted scan-result document (A4, page numbers, the target in every footer)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    page = report_page(document, "print", pii=pii)
    fetcher = URLFetcher(allowed_protocols=["data"], fail_on_errors=False)
    pdf = HTML(string=page, url_fetcher=fetcher, base_url=None).write_pdf()
    assert pdf is not None  # write_pdf returns the bytes when given no target
    return bytes(pdf)
