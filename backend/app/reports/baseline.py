"""Compare a scan result with an earlier one, so CI can fail on what is new rather than on known debt.

Whether a finding that is no longer found is fixed or merely not re-tested is `app.engine.retest`'s rule, the
same the API's scan diff and the dashboard apply. Findings the baseline itself carried as not re-tested (its
own `baseline.carried`) are still open and are compared again, so a chain of narrow runs never drops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.engine.retest import Coverage, coverage_from_counts
from app.engine.retest import compare as retest_compare
from app.engine.scoring import SEVERITY_ORDER

#: What the result keeps of a finding carried forward as not re-tested (evidence stays in the run that found it).
CARRIED_FIELDS = ("probe_id", "title", "owasp", "severity", "asr", "asr_ci95", "strategy_stacks")


@dataclass(frozen=True)
class BaselineDiff:
    """Findings (by probe) that appeared, were fixed, stayed, or were not re-tested since the baseline."""

    new: list[dict[str, Any]]
    fixed: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]
    #: Baseline findings this run did not re-test (still open), each with the reason.
    not_retested: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": [finding["probe_id"] for finding in self.new],
            "fixed": [finding["probe_id"] for finding in self.fixed],
            "unchanged": [finding["probe_id"] for finding in self.unchanged],
            "not_retested": [finding["probe_id"] for finding, _ in self.not_retested],
            "not_retested_reasons": {finding["probe_id"]: reason for finding, reason in self.not_retested},
            "carried": [
                {name: finding[name] for name in CARRIED_FIELDS if name in finding} for finding, _ in self.not_retested
            ],
        }

    def new_at_or_above(self, severity: str | None) -> list[dict[str, Any]]:
        """New findings at least as severe as `severity` (all new ones when None)."""
        if severity is None:
            return self.new
        floor = SEVERITY_ORDER.index(severity)
        return [f for f in self.new if SEVERITY_ORDER.index(f["severity"]) >= floor]


def coverage_of(document: dict[str, Any]) -> Coverage:
    """Scored attempts per probe and strategy stack of a result document (its `by_strategy`)."""
    rows = [
        (str(row["probe_id"]), str(row.get("strategy") or ""), outcome, int(count))
        for row in document.get("by_strategy") or []
        if isinstance(row, dict) and "probe_id" in row
        for outcome, count in (row.get("counts") or {}).items()
    ]
    return coverage_from_counts(rows)


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> BaselineDiff:
    """Match findings of the two documents by probe id (the same weakness of the same target); a baseline of
    another target re-tests nothing."""
    found = {finding["probe_id"]: finding for finding in baseline.get("findings", [])}
    carried = {finding["probe_id"]: finding for finding in (baseline.get("baseline") or {}).get("carried") or []}
    before = found | {probe: finding for probe, finding in carried.items() if probe not in found}
    after = {finding["probe_id"]: finding for finding in current.get("findings", [])}
    # a carried finding was found before the baseline: the baseline's few attempts on it set no lower bar
    earlier = {
        probe: stacks for probe, stacks in coverage_of(baseline).items() if probe not in carried or probe in found
    }
    other = bool(baseline.get("target") and current.get("target") and baseline["target"] != current["target"])
    diff = retest_compare(
        before,
        after,
        probe_of=lambda finding: str(finding["probe_id"]),
        stacks_of=lambda finding: [str(stack) for stack in finding.get("strategy_stacks") or []],
        after_coverage=coverage_of(current),
        earlier_of=lambda finding: earlier.get(str(finding["probe_id"])),
        elsewhere=f"the baseline scanned another target ({baseline['target']})" if other else None,
    )
    return BaselineDiff(diff.new, diff.fixed, diff.unchanged, diff.not_retested)
