"""The scan result as a documented, versioned JSON document (`secureai.scan-result/v1`, docs/scan-json.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.engine.model import AttemptRecord
from app.engine.scoring import OverRefusalScore, ProbeScore, ScanScore, wilson_interval

SCHEMA = "secureai.scan-result/v1"
#: Every outcome, in the order the document lists outcome counts.
OUTCOMES = ("vulnerable", "safe", "refused", "error", "blocked", "unscored")
EXCERPT = 600


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= EXCERPT else text[:EXCERPT] + f"... [{len(text) - EXCERPT} more characters]"


def adaptive_json(record: AttemptRecord) -> dict[str, Any] | None:
    """How an adaptive attempt got there: strategy, queries, the node that won and the whole conversation."""
    extra = record.extra
    if "adaptive" not in extra:
        return None
    try:
        conversation = json.loads(extra.get("adaptive.conversation") or "[]")
    except ValueError:
        conversation = []
    return {
        "strategy": extra["adaptive"],
        "success": extra.get("adaptive.success") == "yes",
        "target_queries": int(extra.get("adaptive.queries") or 0),
        "iterations": int(extra.get("adaptive.iterations") or 0),
        "node": extra.get("adaptive.node"),
        "judge_reason": extra.get("adaptive.judge_reason"),
        "notes": extra.get("adaptive.notes"),
        "conversation": [
            {"role": str(turn.get("role")), "content": _excerpt(str(turn.get("content") or ""))}
            for turn in conversation
            if isinstance(turn, dict)
        ],
    }


def evidence_json(record: AttemptRecord) -> dict[str, Any]:
    fired = [verdict for verdict in record.verdicts if verdict.fired and verdict.detector != "refusal"]
    adaptive = adaptive_json(record)
    return {
        **({"adaptive": adaptive} if adaptive else {}),
        "attempt": record.key,
        "strategies": list(record.strategies) or ["none"],
        "prompt": _excerpt(record.turns[-1] if record.turns else ""),
        "response": _excerpt(record.response),
        "detectors": [
            {
                "detector": v.detector,
                "matched": _excerpt(v.evidence),
                "span": list(v.span) if v.span else None,
                "explanation": v.explanation,
            }
            for v in fired
        ],
    }


def probe_json(score: ProbeScore, strategy: str | None = None) -> dict[str, Any]:
    low, high = score.interval
    data: dict[str, Any] = {
        "probe_id": score.probe_id,
        "title": score.title,
        "owasp": score.owasp,
        "severity": score.severity,
        "counts": {outcome: score.counts.get(outcome, 0) for outcome in OUTCOMES},
        "attempts": score.attempts,
        "asr": None if score.asr is None else round(score.asr, 4),
        "asr_ci95": [round(low, 4), round(high, 4)],
    }
    if score.median_queries is not None:
        data["median_queries_to_success"] = score.median_queries
    if strategy is not None:
        data["strategy"] = strategy
    return data


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def over_refusal_block(document: Any) -> dict[str, Any] | None:
    """A result document's (or a platform scan summary's) `usability.over_refusal`; None for one written before
    over-refusal was measured, or not a dict."""
    usability = document.get("usability") if isinstance(document, dict) else None
    block = usability.get("over_refusal") if isinstance(usability, dict) else None
    return block if isinstance(block, dict) else None


def over_refusal_json(score: OverRefusalScore, threshold: float | None = None) -> dict[str, Any]:
    """The result's `usability.over_refusal`: benign prompts refused / scored, per probe, and the refused ones.

    `threshold` is the rate `--fail-on-over-refusal` allows; `exceeds_threshold` says whether the measured rate
    is above it (None when no threshold was set or no benign prompt was scored).
    """
    low, high = score.interval
    rate = score.rate
    return {
        "probes": len(score.probes),
        "attempts": score.attempts,
        "outcomes": {outcome: score.counts.get(outcome, 0) for outcome in OUTCOMES},
        "scored": score.scored,
        "refused": score.refused,
        "answered": score.answered,
        "rate": _rate(rate),
        "rate_ci95": [round(low, 4), round(high, 4)],
        "threshold": threshold,
        "exceeds_threshold": None if threshold is None or rate is None else rate > threshold,
        "by_probe": [_over_refusal_probe(probe) for probe in sorted(score.probes.values(), key=lambda p: p.probe_id)],
        "refused_prompts": [_refused_prompt(record) for record in score.examples],
    }


def _over_refusal_probe(score: ProbeScore) -> dict[str, Any]:
    low, high = wilson_interval(score.refusals, score.scored)
    data = probe_json(score)
    for name in ("asr", "asr_ci95"):
        data.pop(name)
    return {
        **data,
        "scored": score.scored,
        "refused": score.refusals,
        "rate": _rate(score.refusal_rate),
        "rate_ci95": [round(low, 4), round(high, 4)],
    }


def _refused_prompt(record: AttemptRecord) -> dict[str, Any]:
    """One refused benign prompt: what was asked, what came back and why it counts as a refusal."""
    fired = [v for v in record.verdicts if v.fired and v.detector in ("over_refusal", "refusal")]
    verdict = min(fired, key=lambda v: v.detector != "over_refusal", default=None)
    return {
        "probe_id": record.probe_id,
        "attempt": record.key,
        "strategies": list(record.strategies) or ["none"],
        "prompt": _excerpt(record.turns[-1] if record.turns else ""),
        "response": _excerpt(record.response),
        "explanation": verdict.explanation if verdict else "an explicit refusal",
    }


def scan_result_json(
    score: ScanScore, meta: dict[str, Any], *, over_refusal_threshold: float | None = None
) -> dict[str, Any]:
    """Everything a CI job or a report needs; see docs/scan-json.md for each field. Findings, outcomes, the
    strategy figures and the risk score are about attack probes; over-refusal is in `usability`."""
    findings = []
    for finding in score.findings:
        stacks = sorted(
            {stack for (probe, stack), sub in score.by_strategy.items() if probe == finding.probe_id and sub.vulnerable}
        )
        findings.append(
            {
                **probe_json(finding),
                "strategy_stacks": stacks,
                "evidence": [evidence_json(record) for record in finding.evidence],
            }
        )
    return {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "engine": "secureai",  # an imported result's meta names its engine instead (e.g. garak)
        **meta,
        "summary": {
            "attempts": score.attempts,
            "total_attempts": score.total_attempts,
            "outcomes": {outcome: score.totals.get(outcome, 0) for outcome in OUTCOMES},
            "errors": score.errors,
            "empty_answers": score.empty,
            "error_share": round(score.error_share, 4),
            "inconclusive": score.inconclusive,
            "risk_score": score.risk_score,
            "findings": len(score.findings),
        },
        "findings": findings,
        "probes": [probe_json(probe) for probe in sorted(score.probes.values(), key=lambda p: p.probe_id)],
        "by_strategy": [probe_json(sub, strategy=stack) for (probe, stack), sub in sorted(score.by_strategy.items())],
        "strategies": strategies_json(score),
        "needs_judge": sorted(score.needs_judge),
        "usability": {"over_refusal": over_refusal_json(score.over_refusal, over_refusal_threshold)},
    }


def strategies_json(score: ScanScore) -> list[dict[str, Any]]:
    """The result's `strategies`: each strategy stack over all probes."""
    return [_stack_json(stack, sub) for stack, sub in sorted(score.stacks.items())]


def _stack_json(stack: str, score: ProbeScore) -> dict[str, Any]:
    """One strategy stack over every probe: outcomes, ASR with its interval, median queries to success."""
    data = probe_json(score)
    for name in ("probe_id", "title", "owasp", "severity"):
        data.pop(name)
    return {"strategy": stack, **data}
