"""When a finding counts as fixed: the one rule the CLI's `--baseline`, the API's scan diff, the overview's open
findings and the compliance status all apply (docs/scanning.md, "Fixed, or not re-tested").

A finding of an earlier scan is **fixed** by a later scan of the same target only when that scan ran the same
probe again, with every strategy stack the finding had succeeded with, scored at least `RETEST_MIN_SCORED`
attempts on each of those stacks (or as many as the earlier scan scored there, when that was fewer), and found
nothing. A probe outside the later scan's selection, a stack it did not run, or a probe whose attempts ended in
errors, blocks or unscored answers was **not re-tested**: the finding stays open and is reported as such,
never as fixed. A finding the later scan found again is **still open**; one it found that the earlier scan did
not is **new**.

Pure: the callers say what each scan found and how many scored attempts (vulnerable, safe or refused) it made
per probe and strategy stack; nothing here reads a database or a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = [
    "NO_STACK",
    "RETEST_MIN_SCORED",
    "SCORED_OUTCOMES",
    "Coverage",
    "Retest",
    "RetestDiff",
    "compare",
    "coverage_from_counts",
    "needed",
    "retest",
]

#: Scored attempts a later scan needs on a probe and strategy stack for "not found" to mean "fixed". Two, not
#: one: a single safe answer from a target that had answered unsafely is as likely luck as a fix. A finding
#: that itself rested on a single scored attempt (a one-prompt probe in the quick profile) needs only one, so
#: running the same scan again can always show a fix.
RETEST_MIN_SCORED = 2
#: The outcomes that count as scored: the model's answer was judged (errors, blocks, unscored answers are not).
SCORED_OUTCOMES = ("vulnerable", "safe", "refused")
#: The stack name of unmodified prompts (the engine's `plan.NO_STRATEGY`).
NO_STACK = "none"

#: Scored attempts of one scan: probe id -> strategy stack -> count.
Coverage = Mapping[str, Mapping[str, int]]

T = TypeVar("T")


@dataclass(frozen=True)
class Retest:
    """Whether a later scan re-tested one earlier finding, and if not, why (one phrase for people)."""

    retested: bool
    reason: str = ""


def coverage_from_counts(rows: Iterable[tuple[str, str, str, int]]) -> dict[str, dict[str, int]]:
    """Coverage from (probe id, stack, outcome, count) rows, counting only `SCORED_OUTCOMES`."""
    coverage: dict[str, dict[str, int]] = {}
    for probe_id, stack, outcome, count in rows:
        if str(outcome) in SCORED_OUTCOMES:
            stacks = coverage.setdefault(probe_id, {})
            stacks[stack or NO_STACK] = stacks.get(stack or NO_STACK, 0) + count
    return coverage


def needed(earlier: int) -> int:
    """Scored attempts a re-test needs when the finding's own scan scored `earlier` there (0: unknown)."""
    return min(RETEST_MIN_SCORED, earlier) if earlier > 0 else RETEST_MIN_SCORED


def retest(probe_id: str, stacks: Sequence[str], after: Coverage, earlier: Mapping[str, int] | None = None) -> Retest:
    """Whether the scan measured by `after` re-tested the finding of `probe_id` that succeeded with `stacks`
    (empty: unknown, then all the probe's attempts count together); `earlier` is the scored attempts per stack
    of the scan that found it (None: unknown, then `RETEST_MIN_SCORED` applies)."""
    ran = after.get(probe_id)
    if not ran:
        return Retest(False, "not in this scan's probes")
    known = earlier or {}
    if not stacks:
        scored, bar = sum(ran.values()), needed(sum(known.values()))
        if scored < bar:
            return Retest(False, f"{scored} scored attempt(s), {bar} needed")
        return Retest(True)
    missing = [stack for stack in stacks if stack not in ran]
    if missing:
        return Retest(False, f"strategy stack {', '.join(missing)} not run")
    for stack in stacks:
        bar = needed(known.get(stack, 0))
        if ran[stack] < bar:
            return Retest(False, f"{ran[stack]} scored attempt(s) with {stack}, {bar} needed")
    return Retest(True)


@dataclass
class RetestDiff(Generic[T]):
    """An earlier scan's findings against a later scan's, by key (probe id, or the finding's fingerprint)."""

    new: list[T] = field(default_factory=list)
    fixed: list[T] = field(default_factory=list)
    #: Found again: still open.
    unchanged: list[T] = field(default_factory=list)
    #: Earlier findings the later scan did not re-test, each with the reason: still open, never "fixed".
    not_retested: list[tuple[T, str]] = field(default_factory=list)

    @property
    def still_open(self) -> int:
        """Earlier findings that are open after the later scan (found again, or not re-tested)."""
        return len(self.unchanged) + len(self.not_retested)


def compare(
    before: Mapping[str, T],
    after: Mapping[str, T],
    *,
    probe_of: Callable[[T], str],
    stacks_of: Callable[[T], Sequence[str]],
    after_coverage: Coverage,
    earlier_of: Callable[[T], Mapping[str, int] | None] = lambda _: None,
    elsewhere: str | None = None,
) -> RetestDiff[T]:
    """Sort the findings of two scans of one target into new, fixed, unchanged and not re-tested.

    `earlier_of` gives a finding's scored attempts per stack in the scan that found it (see `retest`).
    `elsewhere`, when given, says the later scan was of another target: then nothing earlier was re-tested and
    that phrase is the reason.
    """
    diff: RetestDiff[T] = RetestDiff()
    for key, finding in after.items():
        (diff.unchanged if key in before else diff.new).append(finding)
    for key, finding in before.items():
        if key in after:
            continue
        if elsewhere is not None:
            diff.not_retested.append((finding, elsewhere))
            continue
        verdict = retest(probe_of(finding), stacks_of(finding), after_coverage, earlier_of(finding))
        if verdict.retested:
            diff.fixed.append(finding)
        else:
            diff.not_retested.append((finding, verdict.reason))
    return diff
