"""A scan result as JUnit XML, the test report format every CI system can show.

Each probe that ran is a test case: ``classname`` is its OWASP category, ``name`` is ``probe id — title``.

- a probe with at least one vulnerable attempt **fails**, ``type`` = its severity, the message gives the ASR
  and its interval, and the body holds the document's evidence excerpts;
- a probe with no scored attempt (all of them error, blocked or unscored) is **skipped**: it was not tested;
- otherwise it passes.

Triage: a finding a reviewer set aside (false positive, or accepted risk before its expiry) is **skipped** with
the triage and its reason as the message, so CI does not turn red on it; an expired accepted risk fails again,
its message saying so. A partial scan (cancelled, failed, stopped early) errors the ``scan conclusiveness``
case with the banner every report opens with ("3 of 273 planned attempts done"), as an inconclusive one does.

Conclusiveness is its own test case, ``scan conclusiveness`` (classname ``secureai``), always present: it
passes when the scan is conclusive and has an ``<error>`` when more attempts failed than
``--max-error-share`` allows. A dedicated test case rather than an ``<error>`` under ``<testsuite>``
because the JUnit schema has no such element and most CI systems ignore it, whereas an erroring test case
is shown everywhere; keeping it in passing runs too gives the check a stable history.

Over-refusal (benign prompts the target refused, ``usability.over_refusal``) is a usability finding, so it is
one test case of its own, ``over-refusal rate`` (classname ``secureai.usability``), present when the scan sent
benign prompts: it **fails** only when the rate is above the limit set with ``--fail-on-over-refusal`` (the
same condition that fails the job), is **skipped** when no benign prompt was scored, and otherwise passes with
the rate and the refused prompts in its output. Refusing benign prompts never fails a probe's test case, as
CI systems that turn failed tests red would otherwise gate on it unasked.

Evidence comes from the scanned target, so it can hold anything: characters that XML 1.0 forbids (most
control characters, lone surrogates, U+FFFE/U+FFFF) are replaced by U+FFFD before ElementTree escapes the rest.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # builds XML only; nothing here parses untrusted XML
from typing import Any

from app.engine.report_json import over_refusal_block
from app.reports.partial import Partial, partial_of
from app.reports.triage import finding_triage, is_set_aside, triage_label

__all__ = ["CONCLUSIVENESS_TEST", "OVER_REFUSAL_TEST", "render_junit", "xml_safe"]

CONCLUSIVENESS_TEST = "scan conclusiveness"
OVER_REFUSAL_TEST = "over-refusal rate"
_OUTCOMES = ("vulnerable", "safe", "refused", "error", "blocked", "unscored")
# Everything outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_XML_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(value: Any) -> str:
    """``value`` as text that any XML 1.0 parser accepts once escaped; forbidden characters become U+FFFD."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_FORBIDDEN.sub("\ufffd", "" if value is None else str(value))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _counts(entry: dict[str, Any]) -> dict[str, int]:
    raw = entry.get("counts") or {}
    return {outcome: int(raw.get(outcome, 0)) for outcome in _OUTCOMES}


def _stats(entry: dict[str, Any]) -> str:
    counts = _counts(entry)
    scored = counts["vulnerable"] + counts["safe"] + counts["refused"]
    low, high = (entry.get("asr_ci95") or [None, None])[:2]
    return (
        f"ASR {_percent(entry.get('asr'))} (95% CI {_percent(low)}-{_percent(high)}): "
        f"{counts['vulnerable']} of {scored} scored attempts succeeded; "
        + ", ".join(f"{counts[outcome]} {outcome}" for outcome in _OUTCOMES)
    )


def _evidence_text(finding: dict[str, Any]) -> str:
    """The evidence excerpts as plain text, one block per vulnerable attempt."""
    blocks = []
    for item in finding.get("evidence") or []:
        lines = [
            f"attempt {item.get('attempt')} (strategies: {', '.join(item.get('strategies') or ['none'])})",
            f"prompt: {item.get('prompt') or ''}",
            f"response: {item.get('response') or ''}",
        ]
        for fired in item.get("detectors") or []:
            lines.append(f"detector {fired.get('detector')}: {fired.get('explanation') or ''}")
        blocks.append("\n".join(lines))
    stacks = ", ".join(finding.get("strategy_stacks") or [])
    header = f"{_stats(finding)}\nsucceeded under strategy stacks: {stacks or 'none'}"
    return xml_safe("\n\n".join([header, *blocks]))


def _testcase(suite: ET.Element, entry: dict[str, Any], finding: dict[str, Any] | None) -> str:
    """Add one probe's test case; returns its status: passed, failure or skipped."""
    probe_id = str(entry["probe_id"])
    title = entry.get("title") or probe_id
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": xml_safe(entry.get("owasp") or "unmapped"), "name": xml_safe(f"{probe_id} — {title}")},
    )
    counts = _counts(entry)
    if finding is not None and is_set_aside(finding):
        reason = (finding_triage(finding) or {}).get("reason")
        message = f"set aside by triage: {triage_label(finding)}" + (f" ({reason})" if reason else "")
        skipped = ET.SubElement(case, "skipped", {"message": xml_safe(message)})
        skipped.text = _evidence_text(finding)
        return "skipped"
    if counts["vulnerable"] > 0:
        source = finding if finding is not None else entry
        failure = ET.SubElement(
            case,
            "failure",
            {
                "message": xml_safe(
                    f"vulnerable: {_stats(entry)}"
                    + (f"; triage: {triage_label(finding)}" if finding is not None and finding_triage(finding) else "")
                ),
                "type": xml_safe(entry.get("severity") or "unknown"),
            },
        )
        failure.text = _evidence_text(source)
        return "failure"
    if counts["vulnerable"] + counts["safe"] + counts["refused"] == 0:
        ET.SubElement(
            case,
            "skipped",
            {
                "message": xml_safe(
                    f"no scored attempt: {counts['error']} error, {counts['blocked']} blocked, "
                    f"{counts['unscored']} unscored"
                )
            },
        )
        return "skipped"
    ET.SubElement(case, "system-out").text = xml_safe(_stats(entry))
    return "passed"


def _conclusiveness(suite: ET.Element, summary: dict[str, Any], partial: Partial | None = None) -> bool:
    """Add the conclusiveness test case; True when it errors."""
    case = ET.SubElement(suite, "testcase", {"classname": "secureai", "name": CONCLUSIVENESS_TEST})
    outcomes = summary.get("outcomes") or {}
    errors = int(summary.get("errors", outcomes.get("error", 0)))  # older documents count attack errors only
    share = _percent(float(summary.get("error_share") or 0.0))
    if partial is not None and not summary.get("inconclusive"):
        error = ET.SubElement(case, "error", {"message": xml_safe(partial.banner), "type": "partial"})
        error.text = "The scan did not run its whole plan: a missing finding proves nothing. Run it again in full."
        return True
    if summary.get("inconclusive"):
        error = ET.SubElement(
            case,
            "error",
            {
                "message": f"inconclusive: {errors} attempts ({share}) ended in error, more than --max-error-share",
                "type": "inconclusive",
            },
        )
        error.text = "Too many attempts failed to reach the target: a missing finding proves nothing and the risk "
        error.text += "score means nothing. Fix the target's availability or rate limits and scan again."
        return True
    ET.SubElement(case, "system-out").text = f"{errors} attempts ({share}) ended in error"
    return False


def _over_refusal(suite: ET.Element, block: dict[str, Any]) -> str:
    """Add the over-refusal test case; returns its status: passed, failure or skipped."""
    case = ET.SubElement(suite, "testcase", {"classname": "secureai.usability", "name": OVER_REFUSAL_TEST})
    refused, scored = int(block.get("refused") or 0), int(block.get("scored") or 0)
    low, high = (block.get("rate_ci95") or [None, None])[:2]
    threshold = block.get("threshold")
    limit = "no limit set (--fail-on-over-refusal)" if threshold is None else f"limit {_percent(float(threshold))}"
    stats = (
        f"over-refusal rate {_percent(block.get('rate'))} (95% CI {_percent(low)}-{_percent(high)}): the target "
        f"refused {refused} of {scored} scored benign prompts; {limit}"
    )
    if not scored:
        ET.SubElement(case, "skipped", {"message": f"no scored benign prompt: {int(block.get('attempts') or 0)} sent"})
        return "skipped"
    prompts = [
        f"{item.get('probe_id')}: {item.get('prompt') or ''}\nanswer: {item.get('response') or ''}"
        for item in block.get("refused_prompts") or []
        if isinstance(item, dict)
    ]
    text = xml_safe("\n\n".join([stats, *prompts]))
    if block.get("exceeds_threshold") is True:
        failure = ET.SubElement(case, "failure", {"message": xml_safe(stats), "type": "over_refusal"})
        failure.text = text
        return "failure"
    ET.SubElement(case, "system-out").text = text
    return "passed"


def render_junit(result: dict[str, Any]) -> str:
    """JUnit XML (UTF-8, with declaration) of one scan result document."""
    target = result.get("target") or "unknown-target"
    summary = dict(result.get("summary") or {})
    findings = {str(finding["probe_id"]): finding for finding in result.get("findings") or []}
    entries = {str(entry["probe_id"]): entry for entry in result.get("probes") or []}
    for probe_id, finding in findings.items():
        entries.setdefault(probe_id, finding)

    root = ET.Element("testsuites", {"name": "SecureAI"})
    suite = ET.SubElement(root, "testsuite", {"name": xml_safe(f"secureai: {target}")})
    properties = ET.SubElement(suite, "properties")
    for name in ("target", "selection", "strategies", "repeat", "seed", "plan", "generated_at"):
        if result.get(name) is not None:
            ET.SubElement(properties, "property", {"name": name, "value": xml_safe(result[name])})
    for name in ("risk_score", "error_share", "inconclusive", "findings", "attempts", "findings_set_aside"):
        if summary.get(name) is not None:
            ET.SubElement(properties, "property", {"name": name, "value": xml_safe(summary[name])})
    partial = partial_of(result)
    if partial is not None:
        ET.SubElement(properties, "property", {"name": "partial", "value": xml_safe(partial.banner)})
    over_refusal = over_refusal_block(result)
    if over_refusal is not None and over_refusal.get("rate") is not None:
        ET.SubElement(properties, "property", {"name": "over_refusal_rate", "value": xml_safe(over_refusal["rate"])})

    statuses = [_testcase(suite, entry, findings.get(probe_id)) for probe_id, entry in entries.items()]
    if over_refusal is not None and int(over_refusal.get("attempts") or 0):
        statuses.append(_over_refusal(suite, over_refusal))
    errored = _conclusiveness(suite, summary, partial)
    totals = {
        "tests": str(len(statuses) + 1),
        "failures": str(statuses.count("failure")),
        "errors": str(int(errored)),
        "skipped": str(statuses.count("skipped")),
        "time": str(float((result.get("run") or {}).get("seconds") or 0.0)),
    }
    suite.attrib.update(totals)
    if result.get("generated_at"):
        suite.set("timestamp", xml_safe(result["generated_at"]))
    root.attrib.update({key: value for key, value in totals.items() if key != "skipped"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
