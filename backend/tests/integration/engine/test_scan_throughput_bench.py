"""bench/scan_throughput.py's end-to-end runs on small work: `secureai scan` as a process, and the garak run's
wiring (arguments, environment, the server's count of what was sent) with a stand-in `garak` executable that
sends what the real one would for those arguments. The full bench (2,000 attempts, the real garak) is run by hand;
bench/README.md has its figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[4] / "bench" / "scan_throughput.py"

STAND_IN = """#!{python}
import json, os, sys, urllib.request
args = sys.argv[1:]
if args == ["--version"]:
    print("garak stand-in 0.0"); sys.exit(0)
value = lambda name: args[args.index(name) + 1]
assert value("--target_type") == "openai.OpenAICompatible" and value("--probes") == "{probe}"
assert os.environ["OPENAICOMPATIBLE_API_KEY"] and os.environ["XDG_DATA_HOME"]
uri = json.loads(value("--generator_options"))["openai"]["OpenAICompatible"]["uri"]
body = json.dumps({{"model": value("--target_name"), "messages": [{{"role": "user", "content": "x"}}]}}).encode()
for _ in range({prompts} * int(value("--generations"))):
    request = urllib.request.Request(uri + "chat/completions", body, {{"content-type": "application/json"}})
    urllib.request.urlopen(request).read()
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scan_throughput", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scan_process_run_counts_what_it_made(bench: ModuleType) -> None:
    result = bench.end_to_end(0.05, 40, 8)
    assert result["attempts"] >= 40 and result["concurrency"] == 8
    assert 0 < result["ratio_to_limit"] < 1  # start-up included: below the latency-bound limit
    assert result["attempts_per_s"] == pytest.approx(result["attempts"] / result["seconds"], rel=0.01)


def test_the_garak_run_sends_its_work_to_the_same_kind_of_server_and_reads_the_count(
    bench: ModuleType, tmp_path: Path
) -> None:
    garak = tmp_path / "garak"
    garak.write_text(STAND_IN.format(python=sys.executable, probe=bench.GARAK_PROBE, prompts=bench.GARAK_PROMPTS))
    garak.chmod(0o755)
    result = bench.garak_run(garak, 0.001, 2 * bench.GARAK_PROMPTS, 4)
    assert result["generations"] == 2 and result["requests"] == 2 * bench.GARAK_PROMPTS
    assert result["version"] == "garak stand-in 0.0" and result["probe"] == "encoding.InjectHex"
    assert json.dumps(result)  # one JSON line's worth
