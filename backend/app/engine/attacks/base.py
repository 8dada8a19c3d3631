"""What every adaptive strategy shares: its parameters, one attack's context, one tried prompt and the result.

An adaptive strategy sits first in a strategy stack (`pair`, `pair+base64`); static strategies after it
transform every prompt the attack sends. It attacks the probe's `goal`, starting from the probe's own prompt
(its last turn, rendered), and succeeds when the response is judged `vulnerable`: by the probe's deterministic
detectors or by the judge on the probe's rubric, exactly as a static attempt is judged (`app.engine.judging`).
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from app.engine.attacks.judge import attack_transcript, grade_response
from app.engine.attacks.protocol import attacker_message, parse_attack_prompt, parse_on_topic, topic_message
from app.engine.attacks.session import RoleReplyError, Roles, StepLog
from app.engine.judging import Judgement, ResponseJudge
from app.engine.model import AttemptContext, Message, Outcome, Strategy, TargetResponse
from app.engine.plan import PlannedAttempt
from app.engine.probes.schema import render
from app.engine.targets.resilience import SendStats

__all__ = ["AdaptiveStrategy", "AttackResult", "AttackRun", "Param", "Try", "better", "settle"]

T = TypeVar("T")


@dataclass(frozen=True)
class Param:
    """One tunable of a strategy (`--attack-option pair.streams=3`): default and allowed range."""

    default: int
    low: int
    high: int
    help: str


@dataclass
class Try:
    """One conversation sent to the target and how its last reply was judged."""

    node: str
    prompt: str  # the attacker's text for the last turn (before static transforms)
    conversation: list[Message]  # user and assistant turns as sent and received
    response: TargetResponse
    judgement: Judgement

    @property
    def success(self) -> bool:
        return self.judgement.outcome is Outcome.VULNERABLE

    @property
    def score(self) -> int:
        """The judge's 1-10 score, else 10 for a success, 1 for a refusal and 2 otherwise."""
        for verdict in self.judgement.verdicts:
            if verdict.detector == "judge" and verdict.fired is not None:
                return max(1, min(10, round(verdict.score * 10)))
        if self.success:
            return 10
        return 1 if self.judgement.outcome is Outcome.REFUSED else 2

    @property
    def judge_reason(self) -> str | None:
        return next((v.evidence for v in self.judgement.verdicts if v.detector == "judge" and v.fired), None)


@dataclass
class AttackResult:
    """The outcome of one adaptive attempt: the winning (or best) try and what it took."""

    best: Try | None
    target_queries: int
    iterations: int
    notes: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.best is not None and self.best.success


class AttackRun:
    """One adaptive attempt in progress: its goal, seed prompt, roles, journal and counters."""

    def __init__(
        self,
        attempt: PlannedAttempt,
        base: AttemptContext,
        roles: Roles,
        log: StepLog,
        responses: ResponseJudge,
        system_prompt: str | None,
        params: Mapping[str, int],
        stats: SendStats,
    ) -> None:
        self.attempt = attempt
        self.probe = attempt.probe
        self.base = base
        self.roles = roles
        self.log = log
        self.responses = responses
        self.system_prompt = system_prompt
        self.params = params
        self.stats = stats
        self.post: tuple[Strategy, ...] = attempt.stack[1:]
        self.seed = attempt.seed
        self.target_queries = 0
        self.notes: list[str] = []

        def fill(text: str) -> str:  # the attacker and judge read these: never the canary
            return render(text, canary="", marker=base.marker, exfil_url=base.exfil_url, slots=attempt.slots)

        self.goal = fill(self.probe.goal) if self.probe.goal else self._fallback_goal()
        rubric = self.probe.judge_rubric
        self.rubric = fill(rubric) if rubric else None
        script = self.probe.script_of(attempt.prompt_index)
        self.seed_prompt = attempt.render(script[-1], base)

    def _fallback_goal(self) -> str:
        return f"{self.probe.title}: {' '.join(self.probe.description.split())}"

    def prepare(self, prompt: str, first: bool) -> str:
        """The user turn to send for the attacker's `prompt`: static transforms, documents before the first."""
        turns: tuple[str, ...] = (prompt,)
        for strategy in self.post:
            turns = strategy.apply(turns, self.seed)
        text = "\n\n".join(turns)
        return self.attempt.with_documents(text, self.base) if first else text

    async def attacker(self, step_id: str, task: str, **inputs: Any) -> str | None:
        """The attacker's next prompt, or None (noted) when it failed."""
        messages = attacker_message(task, self.goal, **inputs)
        try:
            prompt, _analysis = await self.roles.ask_json(
                self.log, step_id, "attacker", messages, "attacker", parse_attack_prompt
            )
        except RoleReplyError as error:
            self.notes.append(f"{step_id}: {error}")
            return None
        return prompt

    async def refine(self, step_id: str, parent: Try, iteration: int, variant: int, variants: int) -> str | None:
        """The attacker's improvement of `parent`'s prompt, given the reply it got and its score."""
        return await self.attacker(
            step_id,
            "refine",
            previous_prompt=parent.prompt,
            target_reply=parent.response.text,
            score=parent.score,
            judge_reason=parent.judge_reason,
            iteration=iteration,
            variant=variant,
            variants=variants,
        )

    async def on_topic(self, step_id: str, prompt: str) -> bool:
        """Whether the judge finds `prompt` still pursues the goal (True without a judge or on a judge error)."""
        if self.roles.judge is None:
            return True
        try:
            return bool(
                await self.roles.ask_json(
                    self.log, step_id, "judge", topic_message(self.goal, prompt), "on_topic", parse_on_topic
                )
            )
        except RoleReplyError as error:
            self.notes.append(f"{step_id}: {error}")
            return True

    async def try_conversation(self, node: str, history: Sequence[Message], prompt: str) -> Try:
        """Send `history` plus the attacker's `prompt` as the next user turn; judge the reply."""
        sent = self.prepare(prompt, first=not history)
        conversation = [*history, Message("user", sent)]
        messages = [Message("system", self.system_prompt)] if self.system_prompt else []
        tools = [tool.model_dump() for tool in self.probe.tools] or None
        response = await self.roles.exchange(
            self.log, f"{node}/target", "target", [*messages, *conversation], tools, self.stats
        )
        self.target_queries += 1
        user_turns = tuple(message.content for message in conversation if message.role == "user")
        context = self.responses.context(self.probe, self.base, user_turns, self.system_prompt)
        if self.rubric:
            verdict = await grade_response(
                self.roles, self.log, f"{node}/judge", self.rubric, attack_transcript(conversation), response
            )
            context = replace(context, judge_verdict=verdict)
        judgement = self.responses.judge(self.probe, context, response)
        return Try(node, prompt, [*conversation, Message("assistant", response.text)], response, judgement)

    def result(self, best: Try | None, iterations: int) -> AttackResult:
        return AttackResult(best, self.target_queries, iterations, self.notes)


async def settle(*steps: Awaitable[T]) -> list[T]:
    """Run `steps` concurrently and let every one finish (each sent request is journaled) before raising the
    first failure, such as a spent budget: a request already on the wire is never lost to a cancelled sibling."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


def better(current: Try | None, candidate: Try) -> Try:
    """The try to report when no try succeeds: the highest score, the earliest on a tie."""
    return candidate if current is None or candidate.score > current.score else current


def conversation_json(conversation: Sequence[Message]) -> str:
    return json.dumps([{"role": m.role, "content": m.content} for m in conversation], ensure_ascii=False)


class AdaptiveStrategy(abc.ABC):
    """A strategy that attacks a goal over several requests, reading the target's replies.

    It satisfies the `Strategy` protocol so plans, keys and `strategies list` treat it like any other (its
    `apply` leaves the turns alone: what it sends is decided live), and adds `run`.
    """

    name: str
    description: str
    adaptive = True
    needs_attacker: bool = True
    params: Mapping[str, Param] = {}

    def apply(self, turns: tuple[str, ...], seed: int) -> tuple[str, ...]:
        return turns

    @abc.abstractmethod
    async def run(self, attack: AttackRun) -> AttackResult:
        """Attack `attack.goal` until success or the strategy's limits; return the best try."""

    @abc.abstractmethod
    def worst_case(self, params: Mapping[str, int], judged: bool) -> dict[str, int]:
        """The most requests per role (target, attacker, judge) one attempt can make, repairs excluded."""

    def __repr__(self) -> str:
        return f"<adaptive strategy {self.name}>"
