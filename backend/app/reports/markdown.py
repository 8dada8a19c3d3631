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

Over-refusal (benign prompts the target refused, `usability.over_refusal`) is a usability finding: it gets its
own line under the verdict and a short table of refused prompts, never a finding row or the risk score. An
over-refusal rate above the `--fail-on-over-refusal` limit is said in the verdict, as that limit fails the job.
"""

from __future__ import annotations

import re
from typing import Any

from app.engine.report_json import over_refusal_block
from app.reports.partial import partial_of
from app.reports.triage import finding_triage, is_set_aside, triage_label

__all__ = ["MAX_ROWS", "code_span", "escape", "render_markdown"]

MAX_ROWS = 20
#: Refused benign prompts listed in the comment (the full report lists up to 100).
MAX_REFUSED_ROWS = 10
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


def _imported(result: dict[str, Any]) -> str:
    """Which engine ran an imported scan, and the probes SecureAI's table could not map (severity info)."""
    version = f" {escape(result['engine_version'])}" if result.get("engine_version") else ""
    line = f"Engine: **{escape(result['engine'])}**{version} (imported)"
    unmapped = list(result.get("unmapped_probes") or [])
    if unmapped:
        line += f" · ⚠️ {len(unmapped)} unmapped probe(s), no OWASP category, severity info: " + ", ".join(
            code_span(probe, in_table=False) for probe in unmapped[:MAX_ROWS]
        )
    return line


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
    findings = sum(not is_set_aside(finding) for finding in result.get("findings") or [])
    over_refusal = over_refusal_block(result) or {}
    too_many_refusals = over_refusal.get("exceeds_threshold") is True
    if findings:
        verdict = f"❌ **{_plural(findings, 'finding')}**"
        if too_many_refusals:
            verdict += " and **over-refusal above the limit**"
        if summary.get("inconclusive"):
            verdict += " (and the scan is inconclusive: too many errors)"
        return verdict
    if too_many_refusals:
        return (
            "❌ **Over-refusal above the limit**: no attack succeeded, but the target refused too many benign prompts"
        )
    if summary.get("inconclusive"):
        return "⚠️ **Inconclusive**: too many attempts ended in error to call it a pass"
    return "✅ **Pass**: no probe succeeded"


def _over_refusal_lines(block: dict[str, Any]) -> list[str]:
    """The usability line (rate, interval, limit) and the refused prompts, or a line saying it was not measured."""
    attempts = int(block.get("attempts") or 0)
    if not attempts:
        return [
            "Over-refusal: not measured (no benign prompt was sent; select `pack:over_refusal`), so a target that "
            "refuses everything would pass."
        ]
    rate = block.get("rate")
    if rate is None:
        return [f"Over-refusal: not measured (none of the {attempts} benign prompts got a scored answer)."]
    low, high = (block.get("rate_ci95") or [None, None])[:2]
    line = (
        f"Over-refusal (usability, not in the risk score): **{_percent(rate)}** of benign prompts refused "
        f"({int(block.get('refused') or 0)} of {int(block.get('scored') or 0)}; 95% CI {_percent(low)}–"
        f"{_percent(high)})"
    )
    threshold = block.get("threshold")
    if threshold is not None:
        line += f", limit {_percent(float(threshold))}"
    lines = [line]
    prompts = [item for item in block.get("refused_prompts") or [] if isinstance(item, dict)]
    if prompts:
        lines += ["", "| Refused benign prompt | Probe | Answer |", "|---|---|---|"]
        for item in prompts[:MAX_REFUSED_ROWS]:
            cells = (code_span(item.get("prompt")), code_span(item.get("probe_id")), code_span(item.get("response")))
            lines.append("| " + " | ".join(cells) + " |")
        refused = int(block.get("refused") or 0)
        if refused > MAX_REFUSED_ROWS:
            lines += ["", f"…and {_plural(refused - MAX_REFUSED_ROWS, 'more refused prompt')}: see the full report."]
    return lines


def render_markdown(result: dict[str, Any]) -> str:
    """The pull-request comment: verdict, risk score, outcomes, the findings table and a note on errors."""
    summary = result.get("summary") or {}
    outcomes = summary.get("outcomes") or {}
    every = list(result.get("findings") or [])
    findings = [finding for finding in every if not is_set_aside(finding)]
    set_aside = [finding for finding in every if is_set_aside(finding)]
    probes = list(result.get("probes") or [])
    partial = partial_of(result)
    risk = summary.get("risk_score")
    over_refusal = over_refusal_block(result)
    attack = "attack " if over_refusal and over_refusal.get("attempts") else ""
    lines = [
        f"### SecureAI scan of {code_span(result.get('target') or 'unknown target', 120, in_table=False)}",
        "",
        *([f"> ⚠️ **{escape(partial.banner)}**", ""] if partial else []),
        *([_imported(result), ""] if result.get("engine") not in (None, "secureai") else []),
        _verdict(result),
        "",
        f"Risk score: **{'n/a' if risk is None else f'{float(risk):.1f}'}** / 100 · "
        f"{int(summary.get('attempts') or 0)} {attack}attempts over {len(probes)} {attack}probes · "
        + " · ".join(f"{int(outcomes.get(outcome, 0))} {outcome}" for outcome in _OUTCOMES),
    ]
    if findings:
        lines += [
            "",
            "| Severity | Probe | OWASP | ASR (95% CI) | Triage | Evidence |",
            "|---|---|---|---|---|---|",
        ]
        for finding in findings[:MAX_ROWS]:
            probe = f"{escape(finding.get('title') or finding['probe_id'])} ({code_span(finding['probe_id'])})"
            lines.append(
                f"| {escape(finding.get('severity'))} | {probe} | {escape(finding.get('owasp'))} "
                f"| {_asr(finding)} | {escape(triage_label(finding))} | {_excerpt(finding)} |"
            )
        if len(findings) > MAX_ROWS:
            lines += ["", f"…and {_plural(len(findings) - MAX_ROWS, 'more finding')}: see the full report."]
    if set_aside:
        count = _plural(len(set_aside), "finding")
        lines += ["", f"Set aside by triage (not in the verdict or the risk score): {count}"]
        for finding in set_aside[:MAX_ROWS]:
            reason = (finding_triage(finding) or {}).get("reason")
            lines.append(
                f"- {code_span(finding.get('probe_id'), in_table=False)} ({escape(finding.get('severity'))}): "
                f"{escape(triage_label(finding))}" + (f", {escape(reason)}" if reason else "")
            )
    if over_refusal is not None:
        lines += ["", *_over_refusal_lines(over_refusal)]
    error_share = float(summary.get("error_share") or 0.0)
    errors = int(summary.get("errors", outcomes.get("error", 0)))  # older documents count attack errors only
    if error_share > 0:
        note = (
            f"> **Note:** {_plural(errors, 'attempt')} ({error_share * 100:.1f}%) ended in "
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
