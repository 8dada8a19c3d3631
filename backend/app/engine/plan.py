"""The plan of a scan: every attempt it will make, each with a stable key.

A key is `probe id : prompt index : strategy stack : repeat`, readable and unique, so a resumed scan can tell
exactly which attempts are done. The per-attempt canary, marker and strategy seed derive from the scan seed
and the key, so the same plan always sends the same text, before and after an interruption.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.engine.model import AttemptContext, Strategy
from app.engine.probes.schema import Probe, render

EXFIL_URL = "https://attacker.example/collect"
NO_STRATEGY = "none"


@dataclass(frozen=True)
class PlannedAttempt:
    """One attempt of the plan."""

    key: str
    probe: Probe
    prompt_index: int
    stack: tuple[Strategy, ...]
    repeat: int
    seed: int

    @property
    def slots(self) -> dict[str, str]:
        """The slot values this attempt's prompt is filled with (empty for a probe without slots)."""
        return self.probe.variants[self.prompt_index].slot_values

    @property
    def stack_name(self) -> str:
        return "+".join(strategy.name for strategy in self.stack) or NO_STRATEGY

    def context(self) -> AttemptContext:
        """Canary and marker for this attempt, derived from its seed (stable across resumes)."""
        digest = hashlib.sha256(f"{self.seed}".encode()).hexdigest()
        return AttemptContext(
            canary=f"SA-CANARY-{digest[:10]}",
            marker=f"SAMARK{digest[10:18].upper()}",
            exfil_url=EXFIL_URL,
            declared_tools=tuple(tool.name for tool in self.probe.tools),
        )

    def user_turns(self, context: AttemptContext, pair_value: str | None = None) -> tuple[str, ...]:
        """The user messages to send: rendered, transformed by the strategy stack, documents placed first.

        A bias_pair probe's pair slot is filled with `pair_value` (the runner sends one conversation per value),
        or with its first value when none is given (estimates, previews).
        """
        slot = self.probe.pair_slot
        fill = {slot: self.probe.pair_values[0] if pair_value is None else pair_value} if slot else {}
        turns = tuple(self.render(text, context, **fill) for text in self.probe.script_of(self.prompt_index))
        for strategy in self.stack:
            turns = strategy.apply(turns, self.seed)
        if turns:
            turns = (self.with_documents(turns[0], context), *turns[1:])
        return turns

    def with_documents(self, first_turn: str, context: AttemptContext) -> str:
        """The first user turn with the probe's retrieved documents placed before it (as a RAG app would)."""
        if not self.probe.context_documents:
            return first_turn
        documents = "\n\n".join(
            f"[retrieved document {number}]\n{self.render(text, context)}\n[end of document {number}]"
            for number, text in enumerate(self.probe.context_documents, start=1)
        )
        return f"{documents}\n\n{first_turn}"

    def system_prompt(self, context: AttemptContext, default: str | None) -> str | None:
        """The probe's scenario system prompt, else the target's own."""
        if self.probe.system_prompt:
            return self.render(self.probe.system_prompt, context)
        return default

    def render(self, template: str, context: AttemptContext, **extra_slots: str) -> str:
        """`template` filled with this attempt's slot values, canary, marker and exfiltration URL."""
        slots = {**self.slots, **extra_slots} if extra_slots else self.slots
        return render(template, canary=context.canary, marker=context.marker, exfil_url=context.exfil_url, slots=slots)


Profile = Literal["quick", "standard", "full"]
#: Scan profiles: at most this many of each probe's prompts (variants) are sent; None sends every one.
PROFILES: dict[str, int | None] = {"quick": 2, "standard": 8, "full": None}
DEFAULT_PROFILE: Profile = "quick"


def profile_limit(profile: str) -> int | None:
    """The per-probe prompt cap of `profile`; ValueError naming the profiles when it is unknown."""
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; expected one of: {', '.join(PROFILES)}") from None


def profile_indices(count: int, limit: int | None) -> range | list[int]:
    """Which of `count` variants a profile sends: all, or `limit` spread evenly from first to last.

    Spreading (not the first `limit`) lets a small profile still vary every slot of a templated probe, and
    the indices are those of the full expansion, so results of different profiles share attempt keys.
    """
    if limit is None or count <= limit:
        return range(count)
    if limit == 1:
        return [0]
    return sorted({round(number * (count - 1) / (limit - 1)) for number in range(limit)})


def stacks_for(probe: Probe, stacks: Sequence[tuple[Strategy, ...]]) -> list[tuple[Strategy, ...]]:
    """The stacks `probe` is planned with: all of them for an attack probe, the non-adaptive ones otherwise."""
    chosen = list(stacks) or [()]
    if probe.kind == "attack":
        return chosen
    return [stack for stack in chosen if not (stack and getattr(stack[0], "adaptive", False))]


def profile_counts(
    probes: Sequence[Probe], stacks: Sequence[tuple[Strategy, ...]] = (), repeat: int = 1
) -> dict[str, int]:
    """Attempts each profile would plan for `probes` with `stacks` and `repeat` (what `build_plan` returns)."""
    return {
        name: repeat
        * sum(len(profile_indices(len(probe.variants), limit)) * len(stacks_for(probe, stacks)) for probe in probes)
        for name, limit in PROFILES.items()
    }


def attempt_key(probe_id: str, prompt_index: int, stack_name: str, repeat: int) -> str:
    return f"{probe_id}:{prompt_index}:{stack_name}:{repeat}"


def attempt_seed(scan_seed: int, key: str) -> int:
    """The seed of one attempt (its canary, marker and strategy randomness), from the scan seed and its key."""
    return int(hashlib.sha256(f"{scan_seed}|{key}".encode()).hexdigest()[:12], 16)


def build_plan(
    probes: Sequence[Probe],
    stacks: Sequence[tuple[Strategy, ...]],
    repeat: int,
    scan_seed: int,
    profile: str = DEFAULT_PROFILE,
) -> list[PlannedAttempt]:
    """probe x prompt (as many as the profile takes) x strategy stack x repeat, in a deterministic order.

    Adaptive stacks apply to attack probes only: a bias pair or a benign over-refusal prompt has no attack goal
    for an attacker model to pursue, so those probes are planned with the other stacks alone.
    """
    limit = profile_limit(profile)
    plan: list[PlannedAttempt] = []
    for probe in probes:
        for prompt_index in profile_indices(len(probe.variants), limit):
            for stack in stacks_for(probe, stacks):
                stack_name = "+".join(strategy.name for strategy in stack) or NO_STRATEGY
                for number in range(repeat):
                    key = attempt_key(probe.id, prompt_index, stack_name, number)
                    plan.append(PlannedAttempt(key, probe, prompt_index, stack, number, attempt_seed(scan_seed, key)))
    return plan


def plan_fingerprint(plan: Sequence[PlannedAttempt]) -> str:
    """Identifies a plan, so --resume refuses to continue a results file made by a different plan."""
    digest = hashlib.sha256()
    for attempt in plan:
        digest.update(attempt.key.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]
