"""Adaptive attacks: strategies that read the target's replies and change what they send next.

`pair`, `tap` and `crescendo` are driven by an attacker model; `best_of_n` samples random augmentations and
needs none. All of them attack the probe's `goal` and are judged like any attempt, with the judge model when
one is configured. They are registered with the static strategies (`secureai strategies list`), go first in a
stack (`pair+base64` sends every attacker prompt base64-encoded), and take their parameters from
`--attack-option NAME.PARAM=VALUE`. docs/adaptive.md describes the protocol, budgets and checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from app.engine.attacks.base import AdaptiveStrategy, AttackResult, AttackRun, Try
from app.engine.attacks.best_of_n import BestOfN
from app.engine.attacks.crescendo import Crescendo
from app.engine.attacks.pair import Pair
from app.engine.attacks.tap import Tap
from app.engine.model import Strategy

__all__ = [
    "ADAPTIVE",
    "AdaptiveStrategy",
    "AttackResult",
    "AttackRun",
    "Try",
    "adaptive_of",
    "needing_attacker",
    "parse_attack_options",
    "resolved_params",
]

ADAPTIVE: dict[str, AdaptiveStrategy] = {
    strategy.name: strategy for strategy in (Pair(), Tap(), Crescendo(), BestOfN())
}


def adaptive_of(stack: Sequence[Strategy]) -> AdaptiveStrategy | None:
    """The adaptive strategy leading `stack`, if any."""
    return stack[0] if stack and isinstance(stack[0], AdaptiveStrategy) else None


def needing_attacker(stacks: Iterable[Sequence[Strategy]]) -> list[str]:
    """The adaptive strategies leading `stacks` that need an attacker model, by name, sorted."""
    return sorted({strategy.name for stack in stacks if (strategy := adaptive_of(stack)) and strategy.needs_attacker})


def parse_attack_options(values: Iterable[str]) -> dict[str, dict[str, int]]:
    """`["pair.streams=2", "tap.depth=4"]` -> {"pair": {"streams": 2}, "tap": {"depth": 4}}; ValueError (one
    line, naming what is valid) for an unknown strategy or parameter, or a value out of range."""
    options: dict[str, dict[str, int]] = {}
    for value in values:
        name, _, rest = value.partition(".")
        param, equals, number = rest.partition("=")
        strategy = ADAPTIVE.get(name.strip().lower())
        if strategy is None or not equals:
            raise ValueError(
                f"attack option {value!r} must look like STRATEGY.PARAM=N with STRATEGY one of {', '.join(ADAPTIVE)}"
            )
        spec = strategy.params.get(param.strip())
        if spec is None:
            raise ValueError(f"{strategy.name} has no parameter {param.strip()!r}; it has {', '.join(strategy.params)}")
        try:
            amount = int(number.strip())
        except ValueError:
            raise ValueError(f"attack option {value!r}: {number.strip()!r} is not a whole number") from None
        if not spec.low <= amount <= spec.high:
            raise ValueError(f"attack option {value!r}: {strategy.name}.{param.strip()} must be {spec.low}-{spec.high}")
        options.setdefault(strategy.name, {})[param.strip()] = amount
    return options


def resolved_params(strategy: AdaptiveStrategy, options: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The strategy's parameters: its defaults, overridden by `options`."""
    given = options.get(strategy.name, {})
    return {name: given.get(name, spec.default) for name, spec in strategy.params.items()}
