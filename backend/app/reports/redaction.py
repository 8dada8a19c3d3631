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
    """A deep copy of a result document with every string redacted (credentials; PII too when asked).

    Probe ids, titles and evidence excerpts repeat across `findings`, `probes` and `by_strategy`, so each
    distinct string is redacted once.
    """
    done: dict[str, str] = {}

    def text(value: str) -> str:
        cleaned = done.get(value)
        if cleaned is None:
            cleaned = redact_text(value)
            cleaned = done[value] = mask_pii(cleaned) if pii else cleaned
        return cleaned

    def copy(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: copy(item) for key, item in value.items()}
        if isinstance(value, list):
            return [copy(item) for item in value]
        if isinstance(value, str):
            return text(value)
        return value

    return copy(document)
