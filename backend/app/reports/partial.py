"""Whether a scan result covers less than it planned, and the banner every output shows first when it does.

A scan is *partial* when it was cancelled or failed, when it stopped before its plan was done (a spent budget,
an interrupted garak run), or when it is inconclusive (more errors than its limit allows). Its figures cover
only the attempts that were done, so every report format opens with the banner, shows "done of planned" and
never a planned count as if it had been sent, and the dashboard does the same on the scan page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Partial", "partial_json", "partial_of", "scan_partial"]

#: Scan statuses that end a scan before its plan is done.
STOPPED = {"cancelled": "cancelled", "failed": "failed"}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class Partial:
    """Why a scan is partial, and how much of it was done."""

    reasons: tuple[str, ...]
    done: int
    planned: int | None

    @property
    def attempts_text(self) -> str:
        """ "3 of 273 planned attempts", or "3 attempts" when the plan's size is unknown."""
        return f"{self.done} of {self.planned} planned attempts" if self.planned else f"{self.done} attempts"

    @property
    def banner(self) -> str:
        """The banner's sentence (the same in every format)."""
        return (
            f"Partial scan ({'; '.join(self.reasons)}): {self.attempts_text} done. The risk score, the findings and "
            "the compliance status cover only those attempts; they are not a complete assessment of the target."
        )


def partial_of(document: dict[str, Any]) -> Partial | None:
    """The partial state of a scan-result document (or a platform scan's summary with its status); None when
    the scan ran its whole plan with errors within its limit."""
    summary = document.get("summary") or {}
    done = _count(summary.get("total_attempts"))
    if done is None:
        done = _count(summary.get("attempts")) or 0
    planned = _count(document.get("attempts_planned"))
    reasons: list[str] = []
    status = str(document.get("status") or "")
    if status in STOPPED:
        reasons.append(STOPPED[status])
    if document.get("source") == "garak" and document.get("complete") is False:
        reasons.append("the garak run was interrupted")
    if document.get("budget_exhausted"):
        reasons.append(f"stopped early: {document['budget_exhausted']}")
    if planned is not None and done < planned and not reasons:
        reasons.append("not every planned attempt was done")
    if summary.get("inconclusive"):
        share = summary.get("error_share")
        errors = f"{float(share) * 100:.1f}% of attempts ended in error" if isinstance(share, int | float) else "errors"
        reasons.append(f"inconclusive: {errors}, above the scan's limit")
    if not reasons:
        return None
    return Partial(tuple(reasons), done, planned)


def partial_json(document: dict[str, Any]) -> dict[str, Any] | None:
    """The result document's `partial` block (docs/scan-json.md): None for a complete scan."""
    partial = partial_of(document)
    if partial is None:
        return None
    return {
        "reasons": list(partial.reasons),
        "attempts_done": partial.done,
        "attempts_planned": partial.planned,
        "banner": partial.banner,
    }


def scan_partial(status: str, results: dict[str, Any] | None, attempts_planned: int | None) -> Partial | None:
    """The partial state of a platform scan from its status, stored summary (`scans.results`) and plan size;
    None while it is pending or running (it is not over) and for a complete scan."""
    if status in ("pending", "running"):
        return None
    return partial_of({"status": status, "summary": results or {}, "attempts_planned": attempts_planned})
