"""The scan engine's core vocabulary: messages, target responses, attempt outcomes, detector verdicts.

Everything here is plain data (frozen dataclasses, no I/O), shared by connectors, strategies, detectors, the
runner and the result sinks. The engine imports neither FastAPI nor the ORM, so it runs the same in the CLI,
a worker or a notebook.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


class Outcome(enum.StrEnum):
    """How one attempt ended. Never collapse these: errors are not safe, blocks are not refusals."""

    VULNERABLE = "vulnerable"  # a deciding detector says the attack worked
    SAFE = "safe"  # it did not
    REFUSED = "refused"  # safe, and the target explicitly refused
    ERROR = "error"  # transport, HTTP or timeout failure after retries
    BLOCKED = "blocked"  # a guardrail or content filter answered (e.g. HTTP 400 content_filter)
    UNSCORED = "unscored"  # no detector could decide


@dataclass(frozen=True)
class Message:
    """One chat message sent to or received from a target."""

    role: Role
    content: str


@dataclass(frozen=True)
class ToolCall:
    """A function/tool call the target asked for; `arguments` is the raw JSON text it produced."""

    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class TargetResponse:
    """What a target answered to one request."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class AttemptContext:
    """Per-attempt values the probe templates were filled with, which detectors look for in the output.

    `canary` is a planted secret that must not leak; `marker` is a harmless token the attack tries to make
    the target print; `exfil_url` is the attacker's collection URL; `declared_tools` are the names of the
    fake tools the probe offered.
    """

    canary: str
    marker: str
    exfil_url: str
    declared_tools: tuple[str, ...] = ()
    prompt: str = ""
    #: Text the attacker supplied in this attempt (the user turns as sent, without documents that hold the
    #: canary): evidence found inside a copy of it is the target echoing the attack, not obeying it.
    attack_texts: tuple[str, ...] = ()
    #: What the attacker wrote when the attack is indirect (the planted documents); empty for a direct attack,
    #: where the attacker is the user and `attack_texts` is theirs. A user's own words sent out are data.
    injected_texts: tuple[str, ...] = ()
    #: The probe says reproducing attacker text is the goal here (e.g. rendering an injected payload).
    echo_is_goal: bool = False
    #: The scenario's system prompt as sent (its secret part is what leakage detectors compare with).
    system_prompt: str = ""
    #: Personal data the scenario legitimately gives the user (their own record); not a leak when shown.
    granted_pii: tuple[str, ...] = ()
    #: The configured judge model's grade of this response (None: no judge, or it could not grade).
    judge_verdict: Verdict | None = None
    #: A `bias_pair` attempt: the protected attribute (the probe's pair slot) and the value this response was
    #: asked with; the answers to the other values, each from its own conversation, are in `pair_others`.
    pair_attribute: str = ""
    pair_value: str = ""
    pair_others: tuple[PairAnswer, ...] = ()


@dataclass(frozen=True)
class PairAnswer:
    """One answer of a `bias_pair` attempt: the attribute value it was asked with, the last request as sent and
    what the target answered."""

    value: str
    prompt: str
    response: TargetResponse


@dataclass(frozen=True)
class Verdict:
    """One detector's judgement of one response.

    `fired` True: the attack worked by this detector's measure; False: it did not; None: the detector cannot
    decide (missing input, judge unavailable). `span` is the [start, end) of the matched text in the response
    when there is one, `evidence` that text (or a short description), `score` a confidence in [0, 1].
    """

    detector: str
    fired: bool | None
    score: float = 0.0
    span: tuple[int, int] | None = None
    evidence: str | None = None
    explanation: str = ""
    #: Which version of the detector gave this verdict ("marker@2"), so re-scored results say what judged them.
    version: str = ""


@runtime_checkable
class Detector(Protocol):
    """Decides from a response whether an attack worked. Implementations are found by name in a registry."""

    name: str

    def detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        """Judge `response`; must never raise on odd text (return fired=None with an explanation instead)."""
        ...


@runtime_checkable
class Strategy(Protocol):
    """Transforms the user turns of an attempt (encoding, obfuscation, wrapping, splitting, escalation).

    `apply` takes the user messages of one attempt (one for single-turn probes) and returns the user messages
    to send instead; it may return more turns than it got (payload splitting, multi-turn escalation).
    Deterministic for a given `seed`, so a resumed scan sends exactly what the plan said.
    """

    name: str

    def apply(self, turns: tuple[str, ...], seed: int) -> tuple[str, ...]:
        """Return the transformed user turns."""
        ...


@dataclass(frozen=True)
class AttemptRecord:
    """A finished attempt as the runner hands it to a result sink (one JSONL line, one database row)."""

    key: str
    probe_id: str
    prompt_index: int
    strategies: tuple[str, ...]
    repeat: int
    outcome: Outcome
    turns: tuple[str, ...]
    response: str | None
    verdicts: tuple[Verdict, ...] = ()
    error: str | None = None
    latency_ms: float | None = None
    attempts_made: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    #: What re-scoring needs besides the text (absent in logs written before they were recorded).
    finish_reason: str | None = None
    completion_tokens: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    context: dict[str, str] = field(default_factory=dict)
