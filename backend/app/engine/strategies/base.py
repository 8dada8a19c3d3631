"""Building blocks shared by every strategy family: a stable seeded chooser and the last-turn base classes.

Strategies must turn the same (turns, seed) into the same text on every machine and every Python version, or
a resumed scan would send something other than what its plan recorded. `random.Random` only promises a stable
`random()` stream; its `choice`, `sample` and `shuffle` have changed between releases. `SeededChoice` draws
from SHA-256 instead, so its picks depend on nothing but the strategy name, the seed and the call order.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from typing import TypeVar

from app.engine.model import Strategy

T = TypeVar("T")


class SeededChoice:
    """Deterministic picks for one strategy application, salted with the strategy's name.

    The salt keeps stacked strategies independent: `leetspeak+homoglyph` shares one attempt seed, yet the two
    do not make correlated choices.
    """

    def __init__(self, seed: int, salt: str) -> None:
        self._prefix = f"{salt}|{seed}|".encode()
        self._counter = 0

    def below(self, bound: int) -> int:
        """An integer in [0, bound); the 256-bit draw makes the modulo bias negligible."""
        if bound <= 0:
            raise ValueError(f"bound must be positive, got {bound}")
        digest = hashlib.sha256(self._prefix + str(self._counter).encode()).digest()
        self._counter += 1
        return int.from_bytes(digest, "big") % bound

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high], both ends included."""
        return low + self.below(high - low + 1)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def sample(self, items: Sequence[T], count: int) -> list[T]:
        """`count` distinct items in pick order (a partial Fisher-Yates shuffle)."""
        pool = list(items)
        count = max(0, min(count, len(pool)))
        for index in range(count):
            other = index + self.below(len(pool) - index)
            pool[index], pool[other] = pool[other], pool[index]
        return pool[:count]

    def shuffled(self, items: Sequence[T]) -> list[T]:
        return self.sample(items, len(items))


class NamedStrategy(abc.ABC):
    """A registered strategy: satisfies `app.engine.model.Strategy` and carries a one-line description."""

    name: str
    description: str

    @abc.abstractmethod
    def apply(self, turns: tuple[str, ...], seed: int) -> tuple[str, ...]:
        """Return the user turns to send instead of `turns`."""

    def __repr__(self) -> str:
        return f"<strategy {self.name}>"


class Identity(NamedStrategy):
    """`none`: sends the turns unchanged, the baseline every other stack is compared against."""

    name = "none"
    description = "No transform: the probe's prompts as written (the baseline)."

    def apply(self, turns: tuple[str, ...], seed: int) -> tuple[str, ...]:
        return turns


class LastTurnStrategy(NamedStrategy):
    """Rewrites only the last user turn; earlier turns are conversation setup and pass through untouched.

    An attempt without turns is returned as is, so a strategy never raises on an empty attempt.
    """

    def apply(self, turns: tuple[str, ...], seed: int) -> tuple[str, ...]:
        if not turns:
            return turns
        return (*turns[:-1], *self.expand(turns[-1], SeededChoice(seed, self.name)))

    @abc.abstractmethod
    def expand(self, payload: str, rng: SeededChoice) -> tuple[str, ...]:
        """The turns that replace the last one (one for single-turn transforms, several for splitting)."""


class SingleTurnStrategy(LastTurnStrategy):
    """A last-turn rewrite that yields exactly one turn."""

    def expand(self, payload: str, rng: SeededChoice) -> tuple[str, ...]:
        return (self.transform(payload, rng),)

    @abc.abstractmethod
    def transform(self, payload: str, rng: SeededChoice) -> str:
        """The rewritten text of the last turn."""


class Stack(NamedStrategy):
    """Strategies applied left to right; the name is their names joined by `+` (what plan keys record)."""

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        if not strategies:
            raise ValueError("a strategy stack needs at least one strategy")
        self.strategies = tuple(strategies)
        self.name = "+".join(strategy.name for strategy in self.strategies)
        self.description = " then ".join(strategy.name for strategy in self.strategies)

    def apply(self, turns: tuple[str, ...], seed: int) -> tuple[str, ...]:
        for strategy in self.strategies:
            turns = strategy.apply(turns, seed)
        return turns
