"""Re-judging recorded attempts with today's detectors, without sending anything.

Detectors improve; scans already run should not have to be run again to benefit, and the project measures its
own verdicts by re-judging labelled transcripts. A recorded attempt holds what the target answered (text, tool
calls, finish reason) and the attack it answered (turns); its canary and marker are recorded too, or derived
from the scan's seed and the attempt key exactly as the plan derived them. Attempts that never got an answer
(errors, blocks) keep their outcome: there is nothing to re-judge. A bias_pair attempt is re-judged from the
other values' answers recorded with it (`pair.<n>.*` extras), so the comparison is rebuilt without sending.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from app.engine.judging import ResponseJudge, pair_from_extra, with_pair
from app.engine.model import AttemptContext, AttemptRecord, Outcome, TargetResponse, ToolCall
from app.engine.plan import EXFIL_URL, PlannedAttempt, attempt_seed
from app.engine.probes.registry import ProbePackError, get_probe
from app.engine.scoring import EMPTY_REASONS

__all__ = ["RescoreError", "RescoreStats", "context_of", "rescore"]

_CALL = re.compile(r"([A-Za-z0-9_-]{1,64})\((\{.*?\})\)(?:, |$)")


class RescoreError(ValueError):
    """The attempts cannot be re-judged (no seed to derive canaries from, unreadable records); says why."""


@dataclass
class RescoreStats:
    """What a re-scoring changed: outcome transitions, and attempts left as they were (with why)."""

    attempts: int = 0
    rejudged: int = 0
    changed: Counter[tuple[str, str]] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "attempts": self.attempts,
            "rejudged": self.rejudged,
            "changed": sum(self.changed.values()),
            "transitions": {f"{old}->{new}": count for (old, new), count in sorted(self.changed.items())},
            "kept": dict(self.kept),
        }


def context_of(record: AttemptRecord, scan_seed: int | None) -> AttemptContext:
    """The canary and marker the attempt was sent with: recorded, or derived from the scan seed and its key."""
    probe = get_probe(record.probe_id)
    if record.context.get("canary") and record.context.get("marker"):
        return AttemptContext(
            canary=record.context["canary"],
            marker=record.context["marker"],
            exfil_url=EXFIL_URL,
            declared_tools=tuple(tool.name for tool in probe.tools),
        )
    if scan_seed is None:
        raise RescoreError(
            "the attempt log records neither the attempts' canaries nor the scan's seed; it cannot be re-judged"
        )
    seed = attempt_seed(scan_seed, record.key)
    return PlannedAttempt(record.key, probe, record.prompt_index, (), record.repeat, seed).context()


def _tool_calls(record: AttemptRecord) -> tuple[ToolCall, ...]:
    """Structured tool calls; logs written before they were recorded keep them as display text."""
    if record.tool_calls or "tool_calls" not in record.extra:
        return record.tool_calls
    return tuple(ToolCall(name, arguments) for name, arguments in _CALL.findall(record.extra["tool_calls"]))


def rescore(
    records: Iterable[AttemptRecord],
    scan_seed: int | None,
    stats: RescoreStats,
) -> Iterator[AttemptRecord]:
    """Each record with today's verdicts and outcome (streamed: memory stays flat in the number of attempts).

    The judge is never called again: a judge verdict recorded with the attempt is kept as it was given.
    """
    judging = ResponseJudge()
    for record in records:
        stats.attempts += 1
        if record.response is None or record.outcome in (Outcome.ERROR, Outcome.BLOCKED):
            stats.kept[f"{record.outcome.value}: no answer to judge"] += 1
            yield record
            continue
        try:
            probe = get_probe(record.probe_id)
        except (ProbePackError, KeyError):
            stats.kept["probe no longer in the catalogue"] += 1
            yield record
            continue
        base = context_of(record, scan_seed)
        attempt = PlannedAttempt(record.key, probe, record.prompt_index, (), record.repeat, 0)
        system = attempt.system_prompt(base, None)
        recorded_judge = next((v for v in record.verdicts if v.detector == "judge" and v.fired is not None), None)
        context = replace(judging.context(probe, base, record.turns, system), judge_verdict=recorded_judge)
        if probe.kind == "bias_pair":
            pair = pair_from_extra(record.extra)
            if pair is None:
                stats.kept["bias pair: the other answers are not recorded"] += 1
                yield record
                continue
            context = with_pair(context, *pair)
        response = TargetResponse(
            text=record.response,
            tool_calls=_tool_calls(record),
            finish_reason=record.finish_reason,
            completion_tokens=record.completion_tokens,
        )
        judged = judging.judge(probe, context, response)
        error = judged.reason if judged.reason else (None if record.error in EMPTY_REASONS else record.error)
        stats.rejudged += 1
        if judged.outcome is not record.outcome:
            stats.changed[(record.outcome.value, judged.outcome.value)] += 1
        yield replace(
            record,
            outcome=judged.outcome,
            verdicts=judged.verdicts,
            error=error,
            tool_calls=response.tool_calls,
            context={"canary": base.canary, "marker": base.marker},
        )
