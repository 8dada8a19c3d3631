"""A scan result as a short Markdown summary for a pull-request comment (GitHub-flavoured Markdown).

A comment is read by people and rendered by GitHub, and part of a scan result is written by the scanned model,
so nothing from the document goes in raw:

- prose values (titles, severities) are backslash-escaped where Markdown could act on them, so no emphasis,
  link, image, HTML tag, entity, math or table pipe can start, and newlines become spaces;
- target-written text (the evidence column) and the target label go in code spans, where GitHub renders no
  HTML, link, image or mention; the span's fence is longer than any backtick run inside, and ``|`` is written
  ``\\|``, which GitHub's table parser turns back into a pipe inside the span. Excerpts are cut to 60
  characters, and control and bidirectional-override characters are replaced by U+FFFD.

Verdict: findings win over an inconclusive scan, as in the exit codes (what was found is certain even when
other attempts failed); the inconclusive state is still said.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_ROWS", "code_span", "escape", "render_markdown"]

MAX_ROWS = 20
EXCERPT = 60
_OUTCOMES = ("vulnerable", "safe", "refused", "error", "blocked", "unscored")
# Characters that can open inline Markdown, HTML, an entity, GitHub math or a table cell; block-level markers
# (#, +, -, 1.) only act at the start of a line, which a value never is here.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|!&~$])")
# C0/C1 controls, lone surrogates, and the bidirectional controls that can make text display out of order
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")
_BACKTICKS = re.compile(r"`+")


def _clean(value: Any) -> str:
    """One line of displayable text."""
    text = _WHITESPACE.sub(" ", "" if value is None else str(value))
    return _INVISIBLE.sub("\ufffd", text).strip()


def escape(value: Any) -> str:
    """Inline text that renders literally, also inside a table cell."""
    return _SPECIAL.sub(r"\\\1", _clean(value))


def code_span(value: Any, limit: int = EXCERPT, *, in_table: bool = True) -> str:
    """Text as an inline code span, cut to ``limit`` characters; an em dash when empty.

    In a table cell ``|`` must be written ``\\|`` (GitHub's table parser unescapes it, even in a code span);
    anywhere else the backslash would show, so ``in_table=False`` leaves pipes alone.
    """
    text = _clean(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text:
        return "—"
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    span = f"{fence}{pad}{text}{pad}{fence}"
    return span.replace("|", "\\|") if in_table else span


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _asr(finding: dict[str, Any]) -> str:
    low, high = (finding.get("asr_ci95") or [None, None])[:2]
    return f"{_percent(finding.get('asr'))} ({_percent(low)}–{_percent(high)})"


def _excerpt(finding: dict[str, Any]) -> str:
    """What shows the attack worked: the first matched text, else the start of the first response."""
    for item in finding.get("evidence") or []:
        for fired in item.get("detectors") or []:
            if fired.get("matched"):
                return code_span(fired["matched"])
        if item.get("response"):
            return code_span(item["response"])
    return "—"


def _verdict(result: dict[str, Any]) -> str:
    summary = result.get("summary") or {}
    findings = len(result.get("findings") or [])
    if findings:
        verdict = f"❌ **{_plural(findings, 'finding')}**"
        if summary.get("inconclusive"):
            verdict += " (and the scan is inconclusive: too many errors)"
        return verdict
    if summary.get("inconclusive"):
        return "⚠️ **Inconclusive**: too many attempts ended in error to call it a pass"
    return "✅ **Pass**: no probe succeeded"


def render_markdown(result: dict[str, Any]) -> str:
    """The pull-request comment: verdict, risk score, outcomes, the findings table and a note on errors."""
    summary = result.get("summary") or {}
    outcomes = summary.get("outcomes") or {}
    findings = list(result.get("findings") or [])
    probes = list(result.get("probes") or [])
    risk = summary.get("risk_score")
    lines = [
        f"### SecureAI scan of {code_span(result.get('target') or 'unknown target', 120, in_table=False)}",
        "",
        _verdict(result),
        "",
        f"Risk score: **{'n/a' if risk is None else f'{float(risk):.1f}'}** / 100 · "
        f"{int(summary.get('attempts') or 0)} attempts over {len(probes)} probes · "
        + " · ".join(f"{int(outcomes.get(outcome, 0))} {outcome}" for outcome in _OUTCOMES),
    ]
    if findings:
        lines += ["", "| Severity | Probe | OWASP | ASR (95% CI) | Evidence |", "|---|---|---|---|---|"]
        for finding in findings[:MAX_ROWS]:
            probe = f"{escape(finding.get('title') or finding['probe_id'])} ({code_span(finding['probe_id'])})"
            lines.append(
                f"| {escape(finding.get('severity'))} | {probe} | {escape(finding.get('owasp'))} "
                f"| {_asr(finding)} | {_excerpt(finding)} |"
            )
        if len(findings) > MAX_ROWS:
            lines += ["", f"…and {_plural(len(findings) - MAX_ROWS, 'more finding')}: see the full report."]
    error_share = float(summary.get("error_share") or 0.0)
    if error_share > 0:
        note = (
            f"> **Note:** {_plural(int(outcomes.get('error', 0)), 'attempt')} ({error_share * 100:.1f}%) ended in "
            "error (transport, HTTP or timeout failures after retries); their probes were scored on fewer attempts."
        )
        if summary.get("inconclusive"):
            note += " That is more than the scan allows, so the risk score means nothing."
        lines += ["", note]
    unscorable = sum(1 for probe in probes if probe.get("asr") is None)
    if unscorable:
        lines += [
            "",
            f"> {_plural(unscorable, 'probe')} had no scored attempt (every attempt errored, was blocked or unscored).",
        ]
    return "\n".join(lines) + "\n"
