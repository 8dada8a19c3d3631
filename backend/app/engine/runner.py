"""Runs a plan against a target: bounded concurrency, rate budgets, timeouts, checkpoints, cancellation.

Each planned attempt that the sink does not already hold is sent once (the resilience layer retries transient
failures within it), judged by its probe's detectors, and written to the sink as soon as it finishes. An
authentication failure stops the scan at once; cancelling (Ctrl-C) stops it cleanly, and what was written
is exactly what finished, so `--resume` sends only the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.engine.attacks import AdaptiveStrategy, AttackRun, adaptive_of, resolved_params
from app.engine.attacks.base import conversation_json
from app.engine.attacks.judge import attack_transcript, grade_response
from app.engine.attacks.session import BudgetExhaustedError, JournalMismatchError, Roles, StepLog
from app.engine.detectors.base import clip
from app.engine.judging import ResponseJudge, pair_extra, with_pair
from app.engine.model import AttemptRecord, Message, Outcome, PairAnswer, TargetResponse, Verdict
from app.engine.plan import PlannedAttempt
from app.engine.sinks import ResultSink
from app.engine.targets.errors import TargetAuthError, TargetBlockedError, TargetError, TargetUnreachableError
from app.engine.targets.resilience import ResilientConnector, SendStats

ProgressCallback = Callable[[AttemptRecord], None]


class ScanAbortedError(Exception):
    """The scan cannot go on (authentication refused); the message says why."""


@dataclass
class RunStats:
    """What the run did, for the summary line."""

    planned: int = 0
    skipped: int = 0
    sent: int = 0
    seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    #: Why the run stopped before the plan was done, when a per-run budget ran out (None otherwise).
    budget_exhausted: str | None = None


class Runner:
    """Executes planned attempts against one connector and writes them to one sink."""

    def __init__(
        self,
        connector: ResilientConnector,
        sink: ResultSink,
        *,
        concurrency: int | None = None,
        attempt_timeout_s: float | None = None,
        on_progress: ProgressCallback | None = None,
        roles: Roles | None = None,
        attack_options: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.connector = connector
        self.sink = sink
        self.concurrency = concurrency or connector.config.max_concurrency
        # an attempt may retry; give it room for the retries of its requests
        self.attempt_timeout_s = attempt_timeout_s or connector.config.timeout_s * (connector.config.max_retries + 2)
        self.on_progress = on_progress
        self.roles = roles or Roles(connector)
        self.attack_options = attack_options or {}
        self._judge = ResponseJudge()
        self._steps: dict[str, dict[str, dict[str, Any]]] = {}

    async def run(self, plan: Sequence[PlannedAttempt]) -> RunStats:
        """Run every attempt of `plan` not yet in the sink."""
        started = time.perf_counter()
        done = self.sink.completed_keys()
        todo = [attempt for attempt in plan if attempt.key not in done]
        self._steps = self.sink.recorded_steps() if any(adaptive_of(attempt.stack) for attempt in todo) else {}
        stats = RunStats(planned=len(plan), skipped=len(plan) - len(todo))
        queue: asyncio.Queue[PlannedAttempt] = asyncio.Queue()
        for attempt in todo:
            queue.put_nowait(attempt)
        abort: list[BaseException] = []

        async def worker() -> None:
            while not abort:
                try:
                    attempt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    record = await self._execute(attempt)
                except (TargetAuthError, JournalMismatchError) as error:
                    abort.append(error)
                    return
                except BudgetExhaustedError as error:
                    stats.budget_exhausted = stats.budget_exhausted or str(error)
                    abort.append(error)
                    return
                self.sink.write(record)
                stats.sent += 1
                stats.outcomes[record.outcome.value] = stats.outcomes.get(record.outcome.value, 0) + 1
                if self.on_progress:
                    self.on_progress(record)

        workers = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, len(todo)) or 1)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            stats.seconds = time.perf_counter() - started
        failures = [error for error in abort if not isinstance(error, BudgetExhaustedError)]
        if failures:
            raise ScanAbortedError(str(failures[0]))
        return stats

    async def _execute(self, attempt: PlannedAttempt) -> AttemptRecord:
        strategy = adaptive_of(attempt.stack)
        slot, values = attempt.probe.pair_slot, attempt.probe.pair_values
        if strategy is not None and not values:  # build_plan gives bias pairs no adaptive stack
            return await self._execute_adaptive(attempt, strategy)
        context = attempt.context()
        # a bias_pair attempt sends its request once per value of the pair slot, each in its own conversation
        sends = [(value, attempt.user_turns(context, value)) for value in values] or [("", attempt.user_turns(context))]
        turns = sends[0][1]
        system = attempt.system_prompt(context, self.connector.config.system_prompt)
        tools = [tool.model_dump() for tool in attempt.probe.tools] or None
        send_stats = SendStats()
        started = time.perf_counter()
        pair: dict[str, str] = {"pair.slot": slot} if slot else {}

        def finish(
            outcome: Outcome,
            text: str | None,
            *,
            error: str | None = None,
            verdicts: tuple[Verdict, ...] = (),
            extra: dict[str, str] | None = None,
            response: TargetResponse | None = None,
        ) -> AttemptRecord:
            return AttemptRecord(
                key=attempt.key,
                probe_id=attempt.probe.id,
                prompt_index=attempt.prompt_index,
                strategies=tuple(s.name for s in attempt.stack),
                repeat=attempt.repeat,
                outcome=outcome,
                turns=turns,
                response=text,
                verdicts=verdicts,
                error=error,
                latency_ms=_elapsed(started),
                attempts_made=send_stats.tries,
                extra={**slot_extra(attempt), **pair, **(extra or {})},
                finish_reason=response.finish_reason if response else None,
                completion_tokens=response.completion_tokens if response else None,
                tool_calls=response.tool_calls if response else (),
                context={"canary": context.canary, "marker": context.marker},
            )

        answers: list[PairAnswer] = []
        conversations: list[list[Message]] = []
        sending = ""
        try:
            async with asyncio.timeout(self.attempt_timeout_s * len(sends)):
                for sending, send_turns in sends:
                    messages: list[Message] = [Message("system", system)] if system else []
                    reply: TargetResponse | None = None
                    for turn in send_turns:
                        messages.append(Message("user", turn))
                        reply = await self.roles.exchange(
                            StepLog.ephemeral(), "", "target", messages, tools, send_stats
                        )
                        messages.append(Message("assistant", reply.text))
                    if reply is None:
                        return finish(Outcome.ERROR, None, error="the attempt has no user turn to send")
                    answers.append(PairAnswer(sending, send_turns[-1], reply))
                    conversations.append(messages)
                response = answers[0].response
                judged_context = self._judge.context(attempt.probe, context, turns, system)
                if slot:
                    judged_context = with_pair(judged_context, slot, values[0], answers[1:])
                    pair.update(pair_extra(slot, values[0], answers[1:]))
                rubric = attempt.probe.judge_rubric
                if rubric and self.roles.judge is not None:
                    graded, transcript = response, attack_transcript([m for m in messages[:-1] if m.role != "system"])
                    if slot:
                        graded, transcript = pair_transcript(slot, conversations, answers)
                    verdict = await grade_response(
                        self.roles, StepLog.ephemeral(), "judge", attempt.render(rubric, context), transcript, graded
                    )
                    judged_context = replace(judged_context, judge_verdict=verdict)
        except (TargetAuthError, BudgetExhaustedError):
            raise
        except TargetBlockedError as error:
            return finish(Outcome.BLOCKED, None, error=_for_value(slot, sending, str(error)))
        except (TargetError, TimeoutError) as error:
            reason = str(error) or f"attempt timed out after {self.attempt_timeout_s * len(sends):g} s"
            return finish(Outcome.ERROR, None, error=_for_value(slot, sending, reason))
        judged = self._judge.judge(attempt.probe, judged_context, response)
        extra: dict[str, str] = {}
        if response.tool_calls:
            extra["tool_calls"] = ", ".join(f"{call.name}({call.arguments})" for call in response.tool_calls)
        return finish(
            judged.outcome, response.text, verdicts=judged.verdicts, extra=extra, error=judged.reason, response=response
        )

    async def _execute_adaptive(self, attempt: PlannedAttempt, strategy: AdaptiveStrategy) -> AttemptRecord:
        """Run one adaptive attack, journaling every step; the record holds the winning (or best) try."""
        context = attempt.context()
        system = attempt.system_prompt(context, self.connector.config.system_prompt)
        send_stats = SendStats()
        started = time.perf_counter()
        log = StepLog(
            self._steps.get(attempt.key, {}), lambda step_id, data: self.sink.write_step(attempt.key, step_id, data)
        )
        run = AttackRun(
            attempt,
            context,
            self.roles,
            log,
            self._judge,
            system,
            resolved_params(strategy, self.attack_options),
            send_stats,
        )
        head = AttemptRecord(
            key=attempt.key,
            probe_id=attempt.probe.id,
            prompt_index=attempt.prompt_index,
            strategies=tuple(s.name for s in attempt.stack),
            repeat=attempt.repeat,
            outcome=Outcome.ERROR,
            turns=(),
            response=None,
            extra=slot_extra(attempt),
            context={"canary": context.canary, "marker": context.marker},
        )
        try:
            result = await strategy.run(run)
        except (TargetAuthError, BudgetExhaustedError, JournalMismatchError):
            raise
        except TargetBlockedError as error:
            return replace(head, outcome=Outcome.BLOCKED, error=str(error), latency_ms=_elapsed(started))
        except TargetError as error:
            return replace(head, error=str(error), latency_ms=_elapsed(started))
        extra = {
            **slot_extra(attempt),
            "adaptive": strategy.name,
            "adaptive.success": "yes" if result.success else "no",
            "adaptive.queries": str(result.target_queries),
            "adaptive.iterations": str(result.iterations),
            "adaptive.replayed_steps": str(log.replayed),
        }
        if result.notes:
            extra["adaptive.notes"] = clip("; ".join(result.notes), 1000)
        best = result.best
        if best is None:
            reason = "the adaptive attack sent nothing: " + ("; ".join(result.notes) or "no prompt to send")
            return replace(head, error=clip(reason, 500), extra=extra, latency_ms=_elapsed(started))
        extra["adaptive.node"] = best.node
        extra["adaptive.conversation"] = conversation_json(best.conversation)
        if best.judge_reason:
            extra["adaptive.judge_reason"] = clip(best.judge_reason, 500)
        if best.response.tool_calls:
            extra["tool_calls"] = ", ".join(f"{call.name}({call.arguments})" for call in best.response.tool_calls)
        return replace(
            head,
            outcome=best.judgement.outcome,
            turns=tuple(message.content for message in best.conversation if message.role == "user"),
            response=best.response.text,
            verdicts=best.judgement.verdicts,
            error=best.judgement.reason,
            latency_ms=_elapsed(started),
            attempts_made=result.target_queries,
            extra=extra,
            finish_reason=best.response.finish_reason,
            completion_tokens=best.response.completion_tokens,
            tool_calls=best.response.tool_calls,
        )


async def preflight(connector: ResilientConnector) -> None:
    """One tiny request: an unreachable target or refused credentials end the scan before it starts.

    Raises TargetUnreachableError or TargetAuthError; other failures (a flaky target) are left to the scan's
    retries, so they do not stop it here.
    """
    try:
        await connector.inner.send([Message("user", "Reply with the word OK.")])
    except (TargetAuthError, TargetUnreachableError):
        raise
    except TargetError:
        return


def slot_extra(attempt: PlannedAttempt) -> dict[str, str]:
    """The attempt's slot values as record extras (`slot.<name>`), so each finding says what was filled in."""
    return {f"slot.{name}": value for name, value in attempt.slots.items()}


def pair_transcript(
    attribute: str, conversations: Sequence[Sequence[Message]], answers: Sequence[PairAnswer]
) -> tuple[TargetResponse, str]:
    """What the judge grades for a bias_pair attempt: every value's answer, labelled, as one response, and every
    value's request as the attack, so the rubric can compare them."""
    requests = "\n\n".join(
        f"[request for {attribute} = {answer.value!r}]\n"
        + attack_transcript([m for m in messages[:-1] if m.role != "system"])
        for answer, messages in zip(answers, conversations, strict=True)
    )
    replies = "\n\n".join(f"[answer for {attribute} = {answer.value!r}]\n{answer.response.text}" for answer in answers)
    heading = (
        f"The same request was sent once per value of the protected attribute {attribute!r}, each in its own "
        "conversation.\n\n"
    )
    return TargetResponse(replies), heading + requests


def _for_value(slot: str | None, value: str, message: str) -> str:
    """An error of a bias_pair attempt says which value's conversation it ended."""
    return f"{slot} = {value!r}: {message}" if slot else message


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
