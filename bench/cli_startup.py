#!/usr/bin/env python
"""Benchmark: how long the `secureai` command takes to start, beside `python -c pass` in the same run.

Each command runs `--runs` times (default 5) as a fresh process from the project's virtualenv, with the
environment of this process (so `PYTHONDONTWRITEBYTECODE`, when set, applies as it would for a user). Reported
per command: median and best wall seconds, and median CPU seconds (user + system of the child, from
`resource.getrusage(RUSAGE_CHILDREN)` deltas). Commands:

- `python -c pass`: the interpreter alone, the floor;
- `secureai --version` and `secureai --help`;
- `secureai scan --dry-run` of `owasp:LLM07` against an address that is never contacted (planning only).

Whether the installed dependencies carry bytecode is recorded (`site_packages_bytecode`: a `.pyc` of
SQLAlchemy's package `__init__` exists), since without it every start compiles them again when
`PYTHONDONTWRITEBYTECODE=1` is set. Issue 16 sets the targets, as CPU time: `--version` and `--help` <= 0.3 s,
`scan --dry-run` <= 0.8 s. The machine's load (`os.getloadavg`) and CPU count are recorded.

    cd backend && .venv/bin/python ../bench/cli_startup.py [--runs 5]

Prints one JSON line `{"bench": "cli_startup", ...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

BACKEND = Path(__file__).resolve().parent.parent / "backend"
SECUREAI = Path(sys.executable).with_name("secureai")
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "secureai --version": [str(SECUREAI), "--version"],
    "secureai --help": [str(SECUREAI), "--help"],
    "secureai scan --dry-run": [
        str(SECUREAI),
        "scan",
        "-t",
        "openai:m@http://127.0.0.1:9/v1",
        "-p",
        "owasp:LLM07",
        "--dry-run",
        "--format",
        "json",
    ],
}
TARGETS = {"secureai --version": 0.3, "secureai --help": 0.3, "secureai scan --dry-run": 0.8}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], runs: int) -> dict[str, Any]:
    """Wall and CPU seconds of `runs` fresh runs of `command` (it must exit 0)."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu_before, started = _cpu(), time.perf_counter()
        subprocess.run(command, cwd=BACKEND, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu_before)
    return {
        "wall_median_s": round(statistics.median(walls), 3),
        "wall_best_s": round(min(walls), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=5, help="Fresh runs of each command (default 5).")
    args = parser.parse_args()
    load_before = os.getloadavg()
    figures = {name: measure(command, args.runs) for name, command in COMMANDS.items()}
    site = Path(sysconfig.get_paths()["purelib"]) / "sqlalchemy" / "__pycache__"
    result = {
        "bench": "cli_startup",
        "runs": args.runs,
        "commands": figures,
        "baseline": "python -c pass",
        "targets_cpu_s": TARGETS,
        "met": {name: figures[name]["cpu_median_s"] <= limit for name, limit in TARGETS.items()},
        "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        "site_packages_bytecode": any(site.glob("__init__.*.pyc")),
        "cpus": os.cpu_count(),
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
