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

import functools
import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from app.engine.model import Strategy
from app.engine.plugins import load_entry_points
from app.engine.strategies import encoding, framing, multiturn, obfuscation, splitting
from app.engine.strategies.base import Identity, NamedStrategy, Stack

if TYPE_CHECKING:
    from app.engine.attacks.base import AdaptiveStrategy

__all__ = ["STRATEGY_ENTRY_POINTS", "available_strategies", "compose", "get_strategy", "parse_stack", "parse_stacks"]

#: Entry point group of third-party strategies: each entry names a `Strategy` instance, under its strategy name.
STRATEGY_ENTRY_POINTS = "secureai.strategies"

NONE = Identity()
log = logging.getLogger("secureai.engine")


def _build_registry(strategies: Iterable[NamedStrategy | AdaptiveStrategy]) -> dict[str, Strategy]:
    registry: dict[str, Strategy] = {}
    for strategy in strategies:
        if strategy.name in registry or "+" in strategy.name:
            raise RuntimeError(f"strategy name {strategy.name!r} is duplicated or contains '+'")
        registry[strategy.name] = strategy
    return registry


def _adaptive() -> tuple[AdaptiveStrategy, ...]:
    """The adaptive strategies (imported here, after this package's own modules, to keep imports acyclic)."""
    from app.engine.attacks import ADAPTIVE

    return tuple(ADAPTIVE.values())


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


@functools.cache
def _shipped() -> dict[str, Strategy]:
    """Static and adaptive strategies. Built on first use: the adaptive ones (`app.engine.attacks`) import the
    detectors, which import this package's transforms, so they cannot be imported while it loads."""
    return _build_registry((*_REGISTRY.values(), *_adaptive()))  # type: ignore[arg-type]


def _plugin_strategy(loaded: object) -> Strategy:
    if not isinstance(loaded, Strategy) or not isinstance(loaded.name, str):
        raise TypeError(f"{loaded!r} is not a Strategy (a `name` and `apply(turns, seed)`)")
    return loaded


def _registry() -> dict[str, Strategy]:
    """The shipped strategies, then those of the `secureai.strategies` entry points (app.engine.plugins); a
    plugin whose name is taken, differs from its entry's or holds '+' is skipped with a warning."""
    return _with_plugins(tuple(sys.path))


@functools.lru_cache(maxsize=16)
def _with_plugins(path: tuple[str, ...]) -> dict[str, Strategy]:
    registry = dict(_shipped())
    for entry_name, strategy in load_entry_points(STRATEGY_ENTRY_POINTS, _plugin_strategy):
        if strategy.name in registry or strategy.name != entry_name or "+" in strategy.name:
            log.warning(
                "strategy plugin %r skipped: its name %r is taken or not the entry's", entry_name, strategy.name
            )
            continue
        registry[strategy.name] = strategy
    return registry


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown strategy {name!r}; valid strategies: {', '.join(sorted(_registry()))}")


def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name` (exact, lower case); ValueError naming the valid ones otherwise."""
    try:
        return _registry()[name]
    except KeyError:
        raise _unknown(name) from None


def available_strategies() -> list[tuple[str, str]]:
    """(name, one-line description) of every strategy, `none` first, then grouped by family."""
    return [(strategy.name, getattr(strategy, "description", "")) for strategy in _registry().values()]


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
    adaptive = [index for index, strategy in enumerate(stack) if getattr(strategy, "adaptive", False)]
    if adaptive and (adaptive != [0] or len(adaptive) > 1):
        raise ValueError(
            f"in {spec!r}, an adaptive strategy ({', '.join(stack[i].name for i in adaptive)}) must come first and "
            "alone: write e.g. 'pair+base64' (static strategies after it transform every prompt it sends)"
        )
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
