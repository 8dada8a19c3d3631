#!/usr/bin/env python
"""Benchmark: the size of the attack catalogue and what planning a scan of all of it costs.

Each measurement runs in a fresh child process (`python catalogue.py --child ...`) so that import time and
caches of one do not flatter the next. A child imports the engine, loads the shipped probe packs, then measures
`select("all")` + `build_plan` + `plan_fingerprint` (what `secureai scan` does before it sends anything) with
`time.perf_counter` and the peak of the process's resident memory during planning (`VmHWM`, reset after the
imports through `/proc/self/clear_refs`, so the figure is what planning added on top of the loaded engine; on
systems without it, `ru_maxrss` minus the RSS after imports).

Measured:
- `full`: `--profile full` with every strategy as its own stack (`none`, each static strategy, each adaptive
  strategy), repeated until the plan holds at least `--attempts` attempts (default 50,000): plan seconds, plan
  peak MiB, attempts; and the dry-run estimate on top of it (every attempt's turns rendered, as
  `secureai scan --dry-run` prints them);
- the catalogue: probes, attempts and distinct prompts before strategies for each profile (rendered with one canary and
  marker, so two slot combinations that read the same count once), probes per kind, judge-decided probes;
- baseline in the same run: the quick profile with strategy `none` (about the size of one scan before the
  catalogue grew), planned the same way.

Targets (issue 14): planning 50,000 attempts in under 2 s and 200 MB; `full` holds at least 1,500 distinct
prompts before strategies. The machine's load (`os.getloadavg`) and CPU count are recorded.

    cd backend && .venv/bin/python ../bench/catalogue.py [--attempts 50000]

Prints one JSON line `{"bench": "catalogue", ...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _rss_kib(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(profile: str, stacks_spec: str, min_attempts: int, dry_run: bool) -> dict[str, Any]:
    """Plan in this process; the figures as a dict."""
    from app.cli.scan import estimate
    from app.engine.plan import build_plan, plan_fingerprint
    from app.engine.probes.registry import load_probes, select
    from app.engine.strategies import parse_stacks

    load_probes()  # the packs are read once per process: part of start-up, not of planning
    stacks = parse_stacks(stacks_spec)
    per_repeat = len(build_plan(select("all"), stacks, 1, 0, profile))
    repeat = max(1, -(-min_attempts // per_repeat)) if min_attempts else 1
    reset = _reset_peak()
    before = _rss_kib("VmRSS")
    started = time.perf_counter()
    plan = build_plan(select("all"), stacks, repeat, 0, profile)
    fingerprint = plan_fingerprint(plan)
    seconds = time.perf_counter() - started
    peak = _rss_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures: dict[str, Any] = {
        "profile": profile,
        "stacks": len(stacks),
        "repeat": repeat,
        "attempts": len(plan),
        "plan_seconds": round(seconds, 3),
        "plan_peak_mib": round(max(peak - before, 0) / 1024, 1),
        "fingerprint": fingerprint,
    }
    if dry_run:
        started = time.perf_counter()
        estimate(plan, 256, 8, None)
        figures["dry_run_estimate_seconds"] = round(time.perf_counter() - started, 3)
        figures["dry_run_peak_mib"] = round(max(_rss_kib("VmHWM") - before, 0) / 1024, 1)
    return figures


def catalogue() -> dict[str, Any]:
    """Counts of the shipped catalogue, per profile and kind."""
    from app.engine.plan import PROFILES, build_plan, profile_counts
    from app.engine.probes.registry import load_probes

    probes = load_probes()
    distinct: dict[str, int] = {}
    for name in PROFILES:
        plan = build_plan(probes, [()], 1, 0, name)
        # one fixed context, so that only the probe's own words and slot values make prompts differ
        context = plan[0].context()
        texts = set()
        for attempt in plan:
            texts.add((attempt.probe.system_prompt or "", attempt.user_turns(context)))
        distinct[name] = len(texts)
    kinds: dict[str, int] = {}
    for probe in probes:
        kinds[probe.kind] = kinds.get(probe.kind, 0) + 1
    return {
        "probes": len(probes),
        "packs": len({probe.pack for probe in probes}),
        "templated_probes": sum(bool(probe.slots) for probe in probes),
        "judge_decided_probes": sum(probe.needs_judge for probe in probes),
        "by_kind": kinds,
        "attempts": profile_counts(probes),
        "distinct_prompts": distinct,
    }


def _run_child(args: list[str]) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    ).stdout
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--attempts", type=int, default=50_000, help="Least attempts the full plan holds.")
    parser.add_argument("--child", nargs=4, metavar=("PROFILE", "STACKS", "MIN", "DRY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        profile, stacks, minimum, dry = args.child
        print(json.dumps(child(profile, stacks, int(minimum), dry == "1")))
        return

    from app.engine.strategies import available_strategies

    load_before = os.getloadavg()
    every_stack = ",".join(name for name, _ in available_strategies())
    full = _run_child(["full", every_stack, str(args.attempts), "1"])
    baseline = _run_child(["quick", "none", "0", "0"])
    figures = catalogue()
    result = {
        "bench": "catalogue",
        "catalogue": figures,
        "full_all_strategies": full,
        "baseline_quick_none": baseline,
        "targets": {
            "plan_50k_under_2s": full["attempts"] >= 50_000 and full["plan_seconds"] < 2.0,
            "plan_50k_under_200mb": full["attempts"] >= 50_000 and full["plan_peak_mib"] < 200,
            "full_at_least_1500_distinct_prompts": figures["distinct_prompts"]["full"] >= 1500,
        },
        "cpus": os.cpu_count(),
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
