"""The detector figures that reports print beside verdicts are the ones the verdict benchmark reproduces today."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.engine.detectors.measured import measured_figures

BENCH = Path(__file__).resolve().parents[4] / "bench" / "verdicts.py"


def test_recorded_detector_figures_match_a_fresh_run_of_the_verdict_benchmark() -> None:
    run = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, timeout=300, check=True)
    fresh = json.loads(run.stdout)
    recorded = measured_figures()
    assert recorded["corpus_cases"] == fresh["cases"], "run `bench/verdicts.py --write` after changing the corpus"
    assert recorded["overall"] == fresh["overall"], "run `bench/verdicts.py --write` after changing a detector"
    assert recorded["by_detector"] == fresh["by_detector"]
