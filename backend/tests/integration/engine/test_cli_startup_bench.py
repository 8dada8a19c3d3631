"""bench/cli_startup.py on one run per command: it runs end to end, prints one JSON line that holds together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[4] / "bench" / "cli_startup.py"


def test_the_start_up_benchmark_prints_one_consistent_line() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--runs", "1"], capture_output=True, text=True, check=True)
    (line,) = run.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["bench"] == "cli_startup" and result["baseline"] == "python -c pass"
    commands = result["commands"]
    assert set(commands) == {"python -c pass", "secureai --version", "secureai --help", "secureai scan --dry-run"}
    floor = commands["python -c pass"]["wall_best_s"]
    assert all(figures["wall_best_s"] > floor for name, figures in commands.items() if name != "python -c pass")
    assert set(result["met"]) == {"secureai --version", "secureai --help", "secureai scan --dry-run"}
    assert result["site_packages_bytecode"] is True  # make setup compiles the dependencies
