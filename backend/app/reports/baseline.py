"""Compare a scan result with an earlier one, so CI can fail on what is new rather than on known debt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.engine.scoring import SEVERITY_ORDER


@dataclass(frozen=True)
class BaselineDiff:
    """Findings (by probe) that appeared, disappeared, or stayed since the baseline."""

    new: list[dict[str, Any]]
    fixed: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": [finding["probe_id"] for finding in self.new],
            "fixed": [finding["probe_id"] for finding in self.fixed],
            "unchanged": [finding["probe_id"] for finding in self.unchanged],
        }

    def new_at_or_above(self, severity: str | None) -> list[dict[str, Any]]:
        """New findings at least as severe as `severity` (all new ones when None)."""
        if severity is None:
            return self.new
        floor = SEVERITY_ORDER.index(severity)
        return [f for f in self.new if SEVERITY_ORDER.index(f["severity"]) >= floor]


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> BaselineDiff:
    """Match findings of the two documents by probe id (the same weakness of the same target)."""
    before = {finding["probe_id"]: finding for finding in baseline.get("findings", [])}
    after = {finding["probe_id"]: finding for finding in current.get("findings", [])}
    return BaselineDiff(
        new=[finding for probe, finding in after.items() if probe not in before],
        fixed=[finding for probe, finding in before.items() if probe not in after],
        unchanged=[finding for probe, finding in after.items() if probe in before],
    )
