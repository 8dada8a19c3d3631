"""Attack strategies: transforms of an attempt's user turns, found by name and composed with `+`.

A probe says *what* to ask; a strategy changes *how* it is asked (encoded, obfuscated, split, framed,
escalated), so one probe pack tests many filter bypasses. `parse_stack("leetspeak+roleplay")` reads a CLI
value; the stack applies its strategies left to right with the attempt's seed, and its name (`a+b`) is what
plan keys and reports record.

Rules every strategy follows:

- Deterministic: the same turns and seed give the same text on any machine (see `base.SeededChoice`), so a
  resumed scan sends exactly what its plan recorded.
- Single-turn strategies rewrite only the last user turn; earlier turns are conversation setup.
  `payload_split` and `escalation` replace that last turn by several turns.
- Everything in the payload is transformed, including the `{marker}`, canary and URL the probe templates
  filled in. That is deliberate: a filter bypass has to hide those too, and recognising an encoded or
  obfuscated marker in the *response* is the detectors' job, not the strategies'.
- No strategy raises on odd text (empty turns, any Unicode, lone surrogates).
"""

from __future__ import annotations

from collections.abc import Iterable

from app.engine.model import Strategy
from app.engine.strategies import encoding, framing, multiturn, obfuscation, splitting
from app.engine.strategies.base import Identity, NamedStrategy, Stack

__all__ = ["available_strategies", "compose", "get_strategy", "parse_stack", "parse_stacks"]

NONE = Identity()


def _build_registry(strategies: Iterable[NamedStrategy]) -> dict[str, NamedStrategy]:
    registry: dict[str, NamedStrategy] = {}
    for strategy in strategies:
        if strategy.name in registry or "+" in strategy.name:
            raise RuntimeError(f"strategy name {strategy.name!r} is duplicated or contains '+'")
        registry[strategy.name] = strategy
    return registry


_REGISTRY = _build_registry(
    (
        NONE,
        *encoding.STRATEGIES,
        *obfuscation.STRATEGIES,
        *splitting.STRATEGIES,
        *framing.STRATEGIES,
        *multiturn.STRATEGIES,
    )
)


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown strategy {name!r}; valid strategies: {', '.join(sorted(_REGISTRY))}")


def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name` (exact, lower case); ValueError naming the valid ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise _unknown(name) from None


def available_strategies() -> list[tuple[str, str]]:
    """(name, one-line description) of every strategy, `none` first, then grouped by family."""
    return [(strategy.name, strategy.description) for strategy in _REGISTRY.values()]


def compose(strategies: Iterable[Strategy]) -> Strategy:
    """One strategy applying `strategies` left to right, named by their names joined with `+`.

    A single strategy is returned as is; an empty sequence gives the identity (`none`).
    """
    steps = tuple(strategies)
    if not steps:
        return NONE
    if len(steps) == 1:
        return steps[0]
    return Stack(steps)


def parse_stack(spec: str) -> tuple[Strategy, ...]:
    """The stack for a CLI value such as `base64` or `leetspeak+roleplay` (`+` composes, left to right).

    Names are matched after trimming spaces and lower-casing. `none` steps are dropped, so `none` alone gives
    the empty stack, which the plan already names `none`: `--strategies none` keys attempts exactly as a plan
    built without strategies. Raises ValueError (one line) for an empty step or an unknown name.
    """
    names = [part.strip().lower() for part in spec.split("+")]
    if any(not name for name in names):
        raise ValueError(f"empty strategy name in {spec!r}; write stacks like 'base64' or 'leetspeak+roleplay'")
    stack: list[Strategy] = []
    for name in names:
        strategy = get_strategy(name)
        if strategy is not NONE:
            stack.append(strategy)
    return tuple(stack)


def parse_stacks(spec: str) -> list[tuple[Strategy, ...]]:
    """The stacks of a comma-separated value (`none,base64,leetspeak+roleplay`), each once, in order.

    Two specs that name the same stack (`none` and `none+none`) give one stack, so no attempt is planned twice.
    """
    unique: dict[str, tuple[Strategy, ...]] = {}
    for part in spec.split(","):
        if part.strip():
            stack = parse_stack(part.strip())
            unique.setdefault("+".join(strategy.name for strategy in stack) or "none", stack)
    return list(unique.values())
