"""Talking to the three roles of a scan (target, attacker, judge) within budgets, with every step journaled.

- `Budget` holds the per-scan caps on requests and tokens per role, and what each role has used; a request
  beyond a cap raises `BudgetExhaustedError` before anything is sent.
- `StepLog` is the journal of one attempt: each exchange of an adaptive attack is written to the results sink
  the moment its reply arrives, under a step id that names its place in the attack ("s1/i2/target",
  "r.1.2/judge", "c3/attacker"). On `--resume` the attack runs again from the start and every step already in
  the journal is answered from it instead of being sent, so nothing is sent twice and the attack continues
  exactly where it stopped (same seed and same replies, same run). A recorded step whose request differs from
  the one the attack now makes means the plan changed: the scan stops rather than mix two runs.
- `Roles.exchange` sends one request of one role through that journal; `Roles.ask_json` adds the protocol's
  repair turn for replies that do not parse (`app.engine.attacks.protocol`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from app.engine.attacks.protocol import REPAIR_ATTEMPTS, SCHEMAS, repair_message
from app.engine.model import Message, TargetResponse, ToolCall
from app.engine.targets.errors import TargetError
from app.engine.targets.resilience import ResilientConnector, SendStats, estimate_tokens

__all__ = [
    "ROLES",
    "Budget",
    "BudgetExhaustedError",
    "JournalMismatchError",
    "Role",
    "RoleReplyError",
    "RoleUsage",
    "Roles",
    "StepLog",
    "parse_role_caps",
]

Role = Literal["target", "attacker", "judge"]
ROLES: tuple[Role, ...] = ("target", "attacker", "judge")
T = TypeVar("T")


def parse_role_caps(values: Iterable[str]) -> dict[str, int]:
    """`["target=500", "judge=200"]` -> {"target": 500, "judge": 200}: the caps of `--max-requests`,
    `--max-tokens` and the dashboard's cap fields. ValueError naming the roles for anything else."""
    caps: dict[str, int] = {}
    for value in values:
        role, equals, number = (part.strip() for part in value.partition("="))
        if role not in ROLES or not equals or not number.isdigit() or int(number) < 1:
            raise ValueError(
                f"{value!r} is not ROLE=N with ROLE one of {', '.join(ROLES)} and N a positive whole number"
            )
        caps[role] = int(number)
    return caps


class BudgetExhaustedError(Exception):
    """A per-scan cap was reached; the attempt in progress stays unfinished (its steps are kept for --resume)."""

    def __init__(self, role: str, what: str, cap: int) -> None:
        super().__init__(f"the scan's {role} {what} budget ({cap:,}) is used up")
        self.role = role


class JournalMismatchError(Exception):
    """A recorded step does not match the request the attack makes now: the results file is from another run."""


class RoleReplyError(Exception):
    """The attacker or judge failed (transport error, or a reply that did not parse even after repair)."""


@dataclass
class RoleUsage:
    """What one role has used in this run (steps answered from the journal on --resume are free)."""

    requests: int = 0
    tokens: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "tokens": self.tokens, "errors": self.errors}


@dataclass
class Budget:
    """Per-run caps on requests and tokens per role (absent: no cap) and the usage so far.

    A resumed run starts a fresh budget, and what it replays from the journal costs nothing, so raising a cap
    and resuming continues the attacks that ran out.
    """

    max_requests: dict[str, int] = field(default_factory=dict)
    max_tokens: dict[str, int] = field(default_factory=dict)
    usage: dict[str, RoleUsage] = field(default_factory=lambda: {role: RoleUsage() for role in ROLES})

    def take(self, role: str) -> None:
        """Count one request of `role`; raises BudgetExhaustedError (counting nothing) when a cap is reached."""
        used = self.usage[role]
        cap = self.max_requests.get(role)
        if cap is not None and used.requests >= cap:
            raise BudgetExhaustedError(role, "request", cap)
        tokens = self.max_tokens.get(role)
        if tokens is not None and used.tokens >= tokens:
            raise BudgetExhaustedError(role, "token", tokens)
        used.requests += 1

    def spend(self, role: str, tokens: int) -> None:
        self.usage[role].tokens += tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "usage": {role: usage.as_dict() for role, usage in self.usage.items()},
            "max_requests": dict(self.max_requests),
            "max_tokens": dict(self.max_tokens),
        }


class StepLog:
    """The journal of one attempt: steps recorded earlier, and where new steps go."""

    def __init__(
        self,
        recorded: dict[str, dict[str, Any]],
        write: Callable[[str, dict[str, Any]], None],
        *,
        persistent: bool = True,
    ) -> None:
        self.recorded = recorded
        self._write = write
        self.persistent = persistent
        self.replayed = 0

    @staticmethod
    def ephemeral() -> StepLog:
        """The journal that keeps nothing (static attempts are written whole when they finish)."""
        return _EPHEMERAL

    def write(self, step_id: str, data: dict[str, Any]) -> None:
        self.recorded[step_id] = data
        self._write(step_id, data)


_EPHEMERAL = StepLog({}, lambda step_id, data: None, persistent=False)


def request_digest(messages: list[Message], tools: list[dict[str, Any]] | None) -> str:
    """Identifies a request, so a replayed step is known to answer the same question."""
    body = json.dumps([[m.role, m.content] for m in messages] + [tools or []], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _response_data(response: TargetResponse) -> dict[str, Any]:
    return {
        "text": response.text,
        "finish_reason": response.finish_reason,
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
        "tool_calls": [{"name": call.name, "arguments": call.arguments} for call in response.tool_calls],
    }


def _response_of(data: dict[str, Any]) -> TargetResponse:
    return TargetResponse(
        text=str(data.get("text") or ""),
        finish_reason=data.get("finish_reason"),
        prompt_tokens=data.get("prompt_tokens"),
        completion_tokens=data.get("completion_tokens"),
        tool_calls=tuple(ToolCall(str(c.get("name", "")), str(c.get("arguments", "{}"))) for c in data["tool_calls"])
        if data.get("tool_calls")
        else (),
    )


@dataclass
class Roles:
    """The connectors of a scan's roles (attacker and judge optional) and its budget."""

    target: ResilientConnector
    attacker: ResilientConnector | None = None
    judge: ResilientConnector | None = None
    budget: Budget = field(default_factory=Budget)

    def connector(self, role: Role) -> ResilientConnector:
        connector = {"target": self.target, "attacker": self.attacker, "judge": self.judge}[role]
        if connector is None:
            raise RoleReplyError(f"no {role} model is configured")
        return connector

    async def exchange(
        self,
        log: StepLog,
        step_id: str,
        role: Role,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        stats: SendStats | None = None,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        """One request of `role`, answered from the journal when it was already made, else sent and journaled.

        Target errors propagate (the attempt ends in `error`); attacker and judge errors become RoleReplyError.
        """
        digest = request_digest(messages, tools) if log.persistent else ""
        recorded = log.recorded.get(step_id) if log.persistent else None
        if recorded is not None:
            if recorded.get("digest") != digest:
                raise JournalMismatchError(
                    f"step {step_id} of this attempt was recorded for a different request; the results file "
                    "comes from another plan or version (rerun without --resume)"
                )
            log.replayed += 1
            return _response_of(recorded)
        connector = self.connector(role)
        self.budget.take(role)
        try:
            response = await connector.send(messages, tools, stats, response_schema=response_schema)
        except TargetError as error:
            if role == "target":
                raise
            self.budget.usage[role].errors += 1
            raise RoleReplyError(f"{role} request failed: {error}") from error
        tokens = (response.prompt_tokens or estimate_tokens(messages)) + (
            response.completion_tokens or max(1, len(response.text) // 4)
        )
        self.budget.spend(role, tokens)
        if log.persistent:
            log.write(step_id, {"role": role, "digest": digest, **_response_data(response)})
        return response

    async def ask_json(
        self,
        log: StepLog,
        step_id: str,
        role: Role,
        messages: list[Message],
        kind: str,
        parse: Callable[[str], T | None],
    ) -> T:
        """Ask `role` and parse its reply; one repair turn per REPAIR_ATTEMPTS, then RoleReplyError."""
        schema = SCHEMAS[kind]
        reply = (await self.exchange(log, step_id, role, messages, response_schema=schema)).text
        parsed = parse(reply)
        for repair in range(1, REPAIR_ATTEMPTS + 1):
            if parsed is not None:
                return parsed
            messages = repair_message(kind, messages, reply)
            reply = (await self.exchange(log, f"{step_id}/repair{repair}", role, messages, response_schema=schema)).text
            parsed = parse(reply)
        if parsed is None:
            self.budget.usage[role].errors += 1
            raise RoleReplyError(f"the {role} reply did not hold the JSON the protocol asks for: {reply[:120]!r}")
        return parsed
