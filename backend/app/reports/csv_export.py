"""A scan result's findings as CSV, one row per finding, for spreadsheets and ticket imports.

`finding_type` tells the two kinds apart: `security` rows are the attack findings; `usability` rows are the
over-refusal probes whose benign prompts the target refused at least once (`usability.over_refusal`). In a
usability row `asr`, `asr_low` and `asr_high` are the probe's over-refusal rate (refused / scored benign prompts)
and its interval, `vulnerable` the number of refused prompts, `strategy_stacks` the stacks they were refused
under (among the refused prompts the result lists), and the evidence columns show the first refused prompt
and its answer.

Triage: `triage` is the reviewer's state ("false positive", "accepted risk until 2027-03-31", "untriaged"),
`triage_reason` its reason, and `set_aside` is `yes` for a false positive or an unexpired accepted risk (left
out of the risk score and CI gating). A partial scan (cancelled, failed, stopped early, inconclusive) starts with
one `finding_type=partial_scan` row whose `title` is the banner every report opens with ("3 of 273 planned
attempts done") and whose `attempts` is the number done, so a spreadsheet shows it before any finding.

Formula injection: evidence is text the scanned model wrote, and a spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)`` phones home, ``=cmd|...`` ran commands in old
Excel); a leading tab or carriage return can hide such a start. Every text cell that starts with one of those
characters gets a leading apostrophe, the OWASP-recommended neutraliser, which spreadsheets show as text and
hide. Numbers are written by us and never start with one. Control characters other than tab, line feed and
carriage return, and lone surrogates, become U+FFFD so every cell encodes as UTF-8.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from app.engine.probes.registry import get_probe
from app.engine.report_json import over_refusal_block
from app.reports.partial import partial_of
from app.reports.triage import finding_triage, is_set_aside, triage_label

__all__ = ["COLUMNS", "neutralise", "render_csv"]

COLUMNS: tuple[str, ...] = (
    "probe_id",
    "title",
    "owasp",
    "severity",
    "asr",
    "asr_low",
    "asr_high",
    "vulnerable",
    "scored",
    "attempts",
    "strategy_stacks",
    "remediation",
    "evidence_prompt",
    "evidence_response",
    "finding_type",
    "triage",
    "triage_reason",
    "set_aside",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def neutralise(value: Any) -> str:
    """A text cell that no spreadsheet will evaluate, and that encodes as UTF-8."""
    text = _UNSAFE.sub("\ufffd", "" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def _number(value: Any) -> str:
    return "" if value is None else str(value)


def _remediation(probe_id: str) -> str:
    """The catalogue's remediation; empty for a probe it does not have (e.g. imported from garak)."""
    try:
        return get_probe(probe_id).remediation
    except KeyError:
        return ""


def _row(finding: dict[str, Any]) -> list[str]:
    probe_id = str(finding["probe_id"])
    counts = finding.get("counts") or {}
    scored = sum(int(counts.get(outcome, 0)) for outcome in ("vulnerable", "safe", "refused"))
    low, high = (finding.get("asr_ci95") or [None, None])[:2]
    evidence = (finding.get("evidence") or [{}])[0]
    return [
        neutralise(probe_id),
        neutralise(finding.get("title")),
        neutralise(finding.get("owasp")),
        neutralise(finding.get("severity")),
        _number(finding.get("asr")),
        _number(low),
        _number(high),
        str(int(counts.get("vulnerable", 0))),
        str(scored),
        _number(finding.get("attempts")),
        neutralise(" ".join(finding.get("strategy_stacks") or [])),
        neutralise(_remediation(probe_id)),
        neutralise(evidence.get("prompt")),
        neutralise(evidence.get("response")),
        "security",
        neutralise(triage_label(finding)),
        neutralise((finding_triage(finding) or {}).get("reason")),
        "yes" if is_set_aside(finding) else "no",
    ]


def _usability_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per over-refusal probe with at least one refused benign prompt."""
    block = over_refusal_block(result)
    if block is None:
        return []
    prompts = [item for item in block.get("refused_prompts") or [] if isinstance(item, dict)]
    rows = []
    for entry in block.get("by_probe") or []:
        if not isinstance(entry, dict) or not int(entry.get("refused") or 0):
            continue
        probe_id = str(entry.get("probe_id"))
        own = [item for item in prompts if item.get("probe_id") == probe_id]
        low, high = (entry.get("rate_ci95") or [None, None])[:2]
        first = own[0] if own else {}
        stacks = dict.fromkeys("+".join(item.get("strategies") or ["none"]) for item in own)
        rows.append(
            [
                neutralise(probe_id),
                neutralise(entry.get("title")),
                neutralise(entry.get("owasp")),
                neutralise(entry.get("severity")),
                _number(entry.get("rate")),
                _number(low),
                _number(high),
                str(int(entry.get("refused") or 0)),
                str(int(entry.get("scored") or 0)),
                _number(entry.get("attempts")),
                neutralise(" ".join(stacks)),
                neutralise(_remediation(probe_id)),
                neutralise(first.get("prompt")),
                neutralise(first.get("response")),
                "usability",
                "",
                "",
                "no",
            ]
        )
    return rows


def render_csv(result: dict[str, Any]) -> str:
    """RFC 4180 CSV (CRLF line ends, quoted where needed) with a header row, one row per security finding, then
    one per over-refusal probe that refused a benign prompt."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    partial = partial_of(result)
    if partial is not None:
        row = dict.fromkeys(COLUMNS, "")
        row.update(title=neutralise(partial.banner), attempts=str(partial.done), finding_type="partial_scan")
        writer.writerow([row[column] for column in COLUMNS])
    for finding in result.get("findings") or []:
        writer.writerow(_row(finding))
    writer.writerows(_usability_rows(result))
    return out.getvalue()
