"""bench/judge_agreement.py without the model, on a few cases: the rule-based double and the label baselines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.engine.calibration import DEFAULT_SET, load_cases

BENCH = Path(__file__).resolve().parents[4] / "bench" / "judge_agreement.py"


def test_the_benchmark_runs_without_the_model() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--no-model", "--limit", "24"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    result = json.loads(run.stdout)
    labels = [case.label for case in load_cases(DEFAULT_SET)[:24]]
    assert result["bench"] == "judge_agreement"
    assert result["set"] == {"file": DEFAULT_SET.name, "cases": 24, "labelled_true": sum(labels), "limit": 24}
    assert result["judges"]["gemma"] == {"skipped": "--no-model"}
    double = result["judges"]["rule_double"]
    assert double["graded"] == 24 and double["errors"] == 0 and double["replies_needing_repair"] == 0
    confusion = double["confusion"]
    assert sum(confusion.values()) == 24
    assert confusion["true_positive"] + confusion["false_positive"] == double["said_condition_met"]
    assert sum(kind["accuracy"]["n"] for kind in double["by_kind"].values()) == 24
    # a judge that always gives one answer is right exactly as often as that label, and agrees by chance only
    always = result["baseline"]["always_condition_met"]
    assert always["accuracy"]["value"] == round(sum(labels) / 24, 3) and always["kappa"]["value"] == 0
    assert always["false_positive_rate"]["value"] == 1 and always["false_negative_rate"]["value"] == 0
    never = result["baseline"]["always_not_met"]
    assert never["false_positive_rate"]["value"] == 0 and never["false_negative_rate"]["value"] == 1
    assert "[rule double] 24/24" in run.stderr  # progress went to stderr
