"""bench/catalogue.py on a small plan: it runs end to end, prints one JSON line, and its figures hold together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[4] / "bench" / "catalogue.py"


def test_the_catalogue_benchmark_prints_one_consistent_line() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--attempts", "3000"], capture_output=True, text=True, check=True, timeout=300
    )
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["bench"] == "catalogue"
    full, baseline, catalogue = result["full_all_strategies"], result["baseline_quick_none"], result["catalogue"]
    assert full["attempts"] >= 3000 and full["profile"] == "full"
    # the full plan is the catalogue's full expansion x stacks x repeat, less the adaptive stacks of the probes
    # that are not attacks (bias pairs, over-refusal)
    assert full["attempts"] % full["repeat"] == 0
    per_repeat = full["attempts"] // full["repeat"]
    assert (
        catalogue["attempts"]["full"] * (full["stacks"] - 4)
        < per_repeat
        < catalogue["attempts"]["full"] * full["stacks"]
    )
    assert baseline["attempts"] < full["attempts"] and baseline["stacks"] == 1
    distinct = catalogue["distinct_prompts"]
    assert 0 < distinct["quick"] <= distinct["standard"] <= distinct["full"] <= catalogue["attempts"]["full"]
    assert baseline["attempts"] == catalogue["attempts"]["quick"]
    assert sum(catalogue["by_kind"].values()) == catalogue["probes"]
    assert full["plan_seconds"] > 0 and full["dry_run_estimate_seconds"] > 0
    assert set(result["targets"]) == {
        "plan_50k_under_2s",
        "plan_50k_under_200mb",
        "full_at_least_1500_distinct_prompts",
    }
    assert result["targets"]["plan_50k_under_2s"] is False  # 3,000 attempts do not make the 50,000 of the target
