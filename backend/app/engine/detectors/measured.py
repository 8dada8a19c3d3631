"""How far each detector's verdicts can be trusted: precision and recall of `vulnerable` measured on the
project's labelled corpus (tests/fixtures/verdicts) by `bench/verdicts.py --write`, which writes
`measured.json` beside this module. Reports and docs show these figures beside the verdicts they qualify.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["FIGURES_FILE", "DetectorFigures", "measured_figures"]

FIGURES_FILE = Path(__file__).with_name("measured.json")


class DetectorFigures(TypedDict):
    """One detector's figures: how many of its `vulnerable` verdicts were right, and how many it caught."""

    precision: float | None
    precision_ci95: list[float]
    recall: float | None
    recall_ci95: list[float]
    cases: int
    vulnerable_judged: int


@functools.cache
def measured_figures() -> dict[str, Any]:
    """{"corpus_cases", "measured_at", "overall", "by_detector": {name: DetectorFigures}}; {} when not measured."""
    try:
        data = json.loads(FIGURES_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
