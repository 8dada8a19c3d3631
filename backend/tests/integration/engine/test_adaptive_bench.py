"""bench/adaptive.py on tiny arguments: it runs end to end, prints one JSON line, and its figures hold together."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[4] / "bench" / "adaptive.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_adaptive", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_critical_path_counts_barriered_phases_per_level() -> None:
    critical_path = _bench().critical_path
    # pair, two streams: opening (1); tries of level 1, stream 2's grade repaired once (3); refine (1); try (2)
    pair = ["s2/i1/attacker", "s1/i1/target", "s1/i1/judge", "s2/i1/target", "s2/i1/judge", "s2/i1/judge/repair1"]
    pair += ["s1/i2/attacker", "s2/i2/attacker", "s1/i2/target", "s1/i2/judge"]
    assert critical_path(pair) == 1 + 3 + 1 + 2
    # tap: root try (2); two proposals, two topic checks, two tries (1 + 1 + 2)
    tap = ["r/target", "r/judge", "r.1/attacker", "r.2/attacker", "r.1/topic", "r.2/topic"]
    tap += ["r.1/target", "r.1/judge", "r.2/target", "r.2/judge"]
    assert critical_path(tap) == 2 + 4
    # crescendo and best_of_n are sequential: every request is on the path
    assert critical_path(["c1/attacker", "c1/target", "c1/judge", "c2/attacker", "c2/target"]) == 5
    assert critical_path(["n1/target", "n1/judge", "n2/target", "n2/judge"]) == 4


def test_the_benchmark_runs_on_tiny_arguments() -> None:
    arguments = ["--probes", "id:jb.roleplay.unrestricted_persona", "--latency", "0.02", "--concurrency", "2"]
    run = subprocess.run(
        [sys.executable, str(BENCH), *arguments, "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    result = json.loads(run.stdout)
    assert result["bench"] == "adaptive" and "engine" in result["driven_through"]
    assert result["cpu_count"] >= 1 and len(result["load_avg_before"]) == len(result["load_avg_after"]) == 3
    baseline = result["baseline_static"]["guarded"]
    assert baseline["attempts"] == 2 and baseline["success_rate"] == 0  # a fixed prompt never gets past it
    assert baseline["ratio_to_limit"] <= 1
    for name in ("pair", "tap", "crescendo"):
        figures = result["strategies"][name]
        assert figures["target"] == "guarded" and figures["recorded"] == figures["attempts"] == 2
        assert figures["success_rate"] == 1.0, (name, figures)
        assert figures["median_target_queries_to_success"] >= 2  # it had to read a refusal first
        assert figures["requests_not_in_chains"] == 0  # every request was on some attempt's journal
        # the limit is a lower bound on the wall time: nothing beats it
        assert 0 < figures["ratio_to_limit"] <= 1 and figures["ratio_to_zero_cost_schedule"] <= 1
    assert result["strategies"]["best_of_n"]["target"] == "filtered"
    assert result["strategies"]["best_of_n"]["requests_per_attempt"]["attacker"] == 0
    assert result["only_adaptive_gets_past_guarded"] is True
