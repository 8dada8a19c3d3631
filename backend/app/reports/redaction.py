"""Masking before anything is written: credentials always, personal data on request (`--redact pii`).

Evidence holds what the target answered, and a target that leaks leaks real secrets. Reports travel further
than the database (CI artefacts, e-mails, tickets), so every string of the document goes through the audit
log's credential patterns, and optionally through the engine's validated PII scanners.
"""

from __future__ import annotations

from typing import Any

from app.audit.redact import redact_text
from app.engine.detectors.pii import scan_pii


def mask_pii(text: str) -> str:
    """`text` with each validated personal value (card, IBAN, e-mail, phone, national id...) replaced."""
    merged: list[tuple[int, int, str]] = []  # overlapping findings (a phone inside an IBAN) become one span
    for finding in sorted(scan_pii(text), key=lambda f: f.span):
        start, end = finding.span
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2])
        else:
            merged.append((start, end, finding.kind.upper()))
    for start, end, kind in reversed(merged):
        text = f"{text[:start]}[{kind} REDACTED]{text[end:]}"
    return text


def redact_result(document: Any, *, pii: bool = False) -> Any:
    """A deep copy of a result document with every string redacted (credentials; PII too when asked)."""
    if isinstance(document, dict):
        return {key: redact_result(value, pii=pii) for key, value in document.items()}
    if isinstance(document, list):
        return [redact_result(value, pii=pii) for value in document]
    if isinstance(document, str):
        cleaned = redact_text(document)
        return mask_pii(cleaned) if pii else cleaned
    return document
