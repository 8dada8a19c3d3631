"""bench/judge_agreement.py with the real local model on two cases: it starts `secureai demo-model`, grades the
cases through the judge protocol and stops the model again. Skipped (saying how to install it) without the
`local-model` extra, like tests/e2e/test_local_model.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.demo.local_model import EXTRA_HINT, installed
from tests.conftest import service_missing


@pytest.fixture(autouse=True, scope="module")
def _local_model_installed() -> None:
    if not installed():
        service_missing(EXTRA_HINT)  # skips locally, fails under CI=true


BENCH = Path(__file__).resolve().parents[3] / "bench" / "judge_agreement.py"


def test_gemma_grades_the_first_cases_of_the_calibration_set() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--limit", "2", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    gemma = json.loads(run.stdout)["judges"]["gemma"]
    assert gemma["cases"] == 2 and gemma["graded"] + gemma["errors"] == 2
    # each case asked once, and once more when its reply did not parse
    assert 2 <= gemma["requests"] <= 4 and gemma["replies_needing_repair"] == gemma["requests"] - 2
    assert gemma["sample_replies"] and gemma["model_start_s"] > 0
    assert "[gemma] serving at " in run.stderr and "[gemma] 2/2 " in run.stderr
