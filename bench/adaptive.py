#!/usr/bin/env python
"""Benchmark: adaptive attacks (pair, tap, crescendo, best_of_n) against rule-based doubles with a fixed latency.

Every role is a rule-based double of `app.demo.roles`, served over real HTTP by `running_simulator` (each its
own uvicorn server, in threads of one child process, so that the doubles' CPU does not share the scanner's
interpreter lock) and answering after `--latency` seconds (default 100 ms): the `guarded` target, which refuses
everything and reveals a one-off password in refusing (only a feedback loop gets past it), the `filtered`
target (a keyword filter), the `attacker` and the `judge`. For each strategy a scan of the same probes
(`--probes`, default `pack:jailbreak+!tag:templated`, the hand-written jailbreaks: 20
prompts, each attacked `--repeat` times, default 4) is driven through
the engine itself, in this process: `build_plan` over the selection with stacks from `parse_stacks`, `Runner`
with `Roles` (target, attacker, judge) and a fresh `Budget`, records in a `MemorySink`; not through the CLI.
pair, tap and crescendo attack the guarded target; best_of_n (it needs no attacker) the filtered one. Every
strategy runs with its default parameters.

Per strategy: success rate (attempts `vulnerable` / attempts), median target queries to success
(`record.extra["adaptive.queries"]` of the successful attempts), requests per attempt by role, wall seconds,
attempts per second, the latency-bound limit with the ratio achieved / limit, and the scanner's CPU per request.

The latency-bound limit. Each request takes at least the latency L, and requests of one attempt that depend
on each other go one after another: an attempt cannot take less than (its critical path) x L, where the
critical path is its longest chain of requests that wait for each other. It is read from the attempt's journal
(`MemorySink.steps`: one step per request, with ids like `s2/i3/attacker`, `r.1.2/topic`, `c4/target`,
`n7/judge`, `.../repair1`). A strategy advances in levels (pair's iterations, tap's tree levels, crescendo's
turns, best_of_n's samples), and within a level in phases separated by a barrier (all attacker proposals, then
all on-topic checks, then the tries, each a target request and its judge grade in sequence), so

    chain(attempt) = sum over levels of sum over phases of max over the level's nodes of the requests that node
                     makes in that phase (repair turns included)

A static attempt's chain is its user turns plus its judge grade (when the judge was asked). `--concurrency` C
attempts run at once (the runner's workers; every role's connector allows C x 16 connections, so no request
waits for a connection), so the scan cannot finish sooner than

    limit_s = max(sum over attempts of chain x L / C, max over attempts of chain x L)

(each worker runs its attempts one after another: the busiest worker has at least the average share, and no
attempt is shorter than its own chain). The limit in attempts/s is attempts / limit_s, and the ratio achieved /
limit is limit_s / wall seconds (1.0 would be a scanner that costs nothing). Reported besides, and tighter:
`zero_cost_schedule_s`, the time the runner's own schedule would take if nothing cost anything (its workers take
attempts in plan order as they free up, each lasting exactly chain x L), and the ratio to it; the two differ
when a few long attempts come last (best_of_n).

Baseline in the same run: the static probes (stack `none`) on the guarded target, which must all fail (success
rate 0: only adaptive attacks get through), and on the filtered target (the probe prompts that happen to avoid
the filter's words get through there unaided; best_of_n's figure is to be read against it), with their
attempts/s and limit. The machine's load (`os.getloadavg`, before and after) and CPU count are recorded.

    cd backend && .venv/bin/python ../bench/adaptive.py [--probes SELECTION] [--latency 0.1] [--concurrency 8]
                                                        [--repeat 4]

Prints one JSON line `{"bench": "adaptive", ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

BACKEND = Path(__file__).resolve().parents[1] / "backend"
sys.path.insert(0, str(BACKEND))

from app.demo.simulator import Mode, running_simulator
from app.engine.attacks import ADAPTIVE, adaptive_of, resolved_params
from app.engine.attacks.judge import JUDGE_VERSION, NOTHING_TO_GRADE
from app.engine.attacks.session import Budget, Roles
from app.engine.model import AttemptRecord, Outcome
from app.engine.plan import PlannedAttempt, build_plan
from app.engine.probes.registry import select
from app.engine.runner import Runner
from app.engine.sinks import MemorySink
from app.engine.strategies import parse_stacks
from app.engine.targets import TargetConfig, build_connector
from app.engine.targets.resilience import ResilientConnector

#: strategy (or `none`) -> the double it attacks
RUNS: tuple[tuple[str, Mode], ...] = (
    ("none", "guarded"),
    ("pair", "guarded"),
    ("tap", "guarded"),
    ("crescendo", "guarded"),
    ("none", "filtered"),
    ("best_of_n", "filtered"),
)
#: connections per role per attempt slot: more than any strategy's widest fan-out at its defaults (tap: 6)
FAN_OUT = 16
_REPAIR = re.compile(r"/repair\d+$")
_PHASE = {"attacker": 0, "topic": 1, "target": 2, "judge": 2}


def _level(node: str) -> int:
    """The level of a node id: pair `s2/i3` -> 3, tap `r.1.2` -> 2, crescendo `c4` -> 4, best_of_n `n7` -> 7."""
    if node.startswith("r"):
        return node.count(".")
    return int(node.rsplit("/", 1)[-1].lstrip("icn"))


def critical_path(step_ids: Sequence[str]) -> int:
    """The longest chain of requests that wait for each other in one adaptive attempt (see the docstring)."""
    per_node: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for step_id in step_ids:
        base = step_id
        while _REPAIR.search(base):
            base = _REPAIR.sub("", base)
        node, _, kind = base.rpartition("/")
        per_node[(_level(node), _PHASE[kind])][node] += 1
    return sum(max(nodes.values()) for nodes in per_node.values())


def static_path(attempt: PlannedAttempt, record: AttemptRecord | None) -> int:
    """A static attempt: one request per user turn, then the judge's grade when the judge was asked (the probe
    has a rubric and the answer something to grade)."""
    asked = record is not None and any(
        verdict.detector == "judge" and verdict.version == JUDGE_VERSION and verdict.explanation != NOTHING_TO_GRADE
        for verdict in record.verdicts
    )
    return len(attempt.probe.script_of(attempt.prompt_index)) + asked


def _connector(url: str, model: str, concurrency: int) -> ResilientConnector:
    return build_connector(
        TargetConfig(type="openai", base_url=url, model=model, max_concurrency=concurrency * FAN_OUT, timeout_s=60)
    )


def zero_cost_schedule(chains: Sequence[int], latency: float, concurrency: int) -> float:
    """The seconds the runner's own schedule would take if the scanner cost nothing: its workers take attempts
    in plan order as they free up, and each attempt lasts exactly its critical path x the latency."""
    workers = [0.0] * max(1, min(concurrency, len(chains)))
    for chain in chains:
        heapq.heapreplace(workers, workers[0] + chain * latency)
    return max(workers)


def run_strategy(
    name: str, urls: dict[str, str], target: Mode, probes: str, repeat: int, latency: float, concurrency: int
) -> dict[str, Any]:
    """One scan of `probes` with the single stack `name` against the double `target`; its figures."""
    plan = build_plan(select(probes), parse_stacks(name), repeat=repeat, scan_seed=0)
    strategy = adaptive_of(plan[0].stack) if plan else None
    sink = MemorySink()
    budget = Budget()

    async def go() -> float:
        roles = Roles(
            _connector(urls[target], "t", concurrency),
            attacker=_connector(urls["attacker"], "a", concurrency),
            judge=_connector(urls["judge"], "j", concurrency),
            budget=budget,
        )
        try:
            started = time.perf_counter()
            await Runner(roles.target, sink, concurrency=concurrency, roles=roles).run(plan)
            return time.perf_counter() - started
        finally:
            for connector in (roles.target, roles.attacker, roles.judge):
                if connector is not None:
                    await connector.aclose()

    cpu_before = time.process_time()
    seconds = asyncio.run(go())
    cpu_s = time.process_time() - cpu_before
    records: dict[str, AttemptRecord] = {record.key: record for record in sink.records}
    chains = [
        critical_path(list(sink.steps.get(attempt.key, {})))
        if strategy
        else static_path(attempt, records.get(attempt.key))
        for attempt in plan
    ]
    requests = {role: usage.requests for role, usage in budget.usage.items()}
    # the chains are read from the journal (adaptive) or the plan (static): every request must be in them
    counted = sum(len(steps) for steps in sink.steps.values()) if strategy else sum(chains)
    successes = [record for record in records.values() if record.outcome is Outcome.VULNERABLE]
    queries = [int(record.extra["adaptive.queries"]) for record in successes if "adaptive.queries" in record.extra]
    attempts = len(plan)
    limit_s = max(sum(chains) * latency / concurrency, max(chains, default=0) * latency)
    ideal_s = zero_cost_schedule(chains, latency, concurrency)
    rate = attempts / seconds if seconds else 0.0
    outcomes: dict[str, int] = defaultdict(int)
    for record in records.values():
        outcomes[record.outcome.value] += 1
    total_requests = sum(requests.values())
    return {
        "target": target,
        **({"params": resolved_params(strategy, {})} if strategy else {}),
        "attempts": attempts,
        "recorded": len(records),
        "outcomes": dict(sorted(outcomes.items())),
        "success_rate": round(len(successes) / attempts, 3) if attempts else None,
        "median_target_queries_to_success": statistics.median(queries) if queries else None,
        "requests_per_attempt": {role: round(count / attempts, 2) for role, count in requests.items()}
        if attempts
        else {},
        "requests_not_in_chains": total_requests - counted,
        "role_errors": {role: usage.errors for role, usage in budget.usage.items() if usage.errors},
        "critical_path_requests": {
            "mean": round(statistics.mean(chains), 2) if chains else None,
            "max": max(chains, default=0),
            "sum": sum(chains),
        },
        "seconds": round(seconds, 3),
        "attempts_per_s": round(rate, 2),
        "latency_bound_limit_s": round(limit_s, 3),
        "latency_bound_limit_per_s": round(attempts / limit_s, 2) if limit_s else None,
        "ratio_to_limit": round(limit_s / seconds, 3) if seconds else None,
        "zero_cost_schedule_s": round(ideal_s, 3),
        "ratio_to_zero_cost_schedule": round(ideal_s / seconds, 3) if seconds else None,
        "scanner_cpu_ms_per_request": round(cpu_s * 1000 / total_requests, 2) if total_requests else None,
    }


@contextmanager
def doubles(latency: float) -> Iterator[dict[str, str]]:
    """The four doubles, each its own server answering after `latency` seconds; their base URLs by mode."""
    with ExitStack() as stack:
        modes: tuple[Mode, ...] = ("guarded", "filtered", "attacker", "judge")
        yield {mode: stack.enter_context(running_simulator(mode, latency_s=latency))[0] for mode in modes}


def serve_doubles(latency: float) -> None:
    """The child process: serve the doubles, print their URLs as one JSON line, stop when stdin closes."""
    with doubles(latency) as urls:
        print(json.dumps(urls), flush=True)
        sys.stdin.read()


@contextmanager
def doubles_process(latency: float) -> Iterator[tuple[dict[str, str], int]]:
    """The doubles in a child process (so that their CPU does not share this process's interpreter lock with
    the scanner's); yields their URLs and the child's pid."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-doubles", str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the doubles did not start")
        yield json.loads(line), process.pid
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--probes",
        default="pack:jailbreak+!tag:templated",
        help="probe selection (default: pack:jailbreak+!tag:templated, the 20 hand-written jailbreak prompts)",
    )
    parser.add_argument("--latency", type=float, default=0.1, help="seconds every double waits before answering")
    parser.add_argument("--concurrency", type=int, default=8, help="attempts in flight at once (default 8)")
    parser.add_argument("--repeat", type=int, default=4, help="times each prompt is attacked (default 4)")
    parser.add_argument("--serve-doubles", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_doubles is not None:
        serve_doubles(args.serve_doubles)
        return
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures: dict[str, dict[str, Any]] = {}
    with doubles_process(args.latency) as (urls, pid):
        for name, target in RUNS:
            key = name if name != "none" else f"none@{target}"
            figures[key] = run_strategy(name, urls, target, args.probes, args.repeat, args.latency, args.concurrency)
            print(f"{key}: {json.dumps(figures[key])}", file=sys.stderr, flush=True)
        doubles_cpu_s = _process_cpu_seconds(pid)
    adaptive = {name: figures[name] for name in ADAPTIVE if name in figures}
    baseline = {target: figures[f"none@{target}"] for target in ("guarded", "filtered")}
    print(
        json.dumps(
            {
                "bench": "adaptive",
                "driven_through": "engine in-process (build_plan, parse_stacks, Runner, Roles/Budget, MemorySink), "
                "not the CLI",
                "doubles": "running_simulator guarded/filtered/attacker/judge, one uvicorn server each, in a child "
                "process",
                "probes": args.probes,
                "repeat": args.repeat,
                "latency_ms": round(args.latency * 1000, 1),
                "concurrency": args.concurrency,
                "strategies": adaptive,
                "baseline_static": baseline,
                "only_adaptive_gets_past_guarded": baseline["guarded"]["success_rate"] == 0
                and all(adaptive[name]["success_rate"] for name in ("pair", "tap", "crescendo")),
                "doubles_cpu_s": round(doubles_cpu_s, 2),
                "seconds_total": round(time.perf_counter() - started, 1),
                "cpu_count": os.cpu_count(),
                "load_avg_before": [round(x, 2) for x in load_before],
                "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
