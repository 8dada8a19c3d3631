"""`secureai scan` end to end, as a CI job runs it, against real in-process HTTP servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.demo.simulator import running_simulator
from app.engine.sinks import read_jsonl
from tests.conftest import BACKEND_DIR, run_cli

OWASP = [f"LLM{n:02d}" for n in range(1, 11)]


def scan(base_url: str, *args: str, tmp: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    result = run_cli(
        "secureai",
        "scan",
        "--target",
        f"openai:sim@{base_url}",
        "--out",
        str(tmp / "r.jsonl"),
        "--format",
        "json",
        *args,
        timeout=600,
    )
    try:
        return result, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result, None


def test_a_target_that_always_refuses_has_no_finding(tmp_path: Path) -> None:
    with running_simulator("refusing") as (url, _):
        result, report = scan(url, "--probes", "all", "--fail-on", "low", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert report is not None
    assert report["summary"]["outcomes"]["vulnerable"] == 0
    assert report["findings"] == []
    assert report["summary"]["outcomes"]["refused"] > 0.9 * report["summary"]["attempts"]
    assert report["summary"]["risk_score"] == 0.0


def test_a_target_that_obeys_everything_has_findings_in_most_categories(tmp_path: Path) -> None:
    with running_simulator("vulnerable") as (url, _):
        result, report = scan(url, "--probes", "all", "--fail-on", "high", tmp=tmp_path)
    assert result.returncode == 1  # findings at or above high
    assert report is not None
    categories = {finding["owasp"] for finding in report["findings"]}
    assert len(categories) >= 7, categories
    finding = report["findings"][0]
    assert finding["severity"] in ("critical", "high")
    assert finding["evidence"] and finding["evidence"][0]["detectors"]
    low, high = finding["asr_ci95"]
    assert 0 <= low <= finding["asr"] <= high <= 1
    assert report["summary"]["risk_score"] > 50


def test_only_encoding_strategies_succeed_against_a_base64_only_target(tmp_path: Path) -> None:
    with running_simulator("base64") as (url, _):
        result, report = scan(
            url, "--probes", "pack:prompt_injection", "--strategies", "none,base64,rot13", tmp=tmp_path
        )
    assert result.returncode == 0, result.stderr
    assert report is not None and report["findings"]
    stacks = {stack for finding in report["findings"] for stack in finding["strategy_stacks"]}
    assert stacks == {"base64"}
    plain = [row for row in report["by_strategy"] if row["strategy"] == "none"]
    assert all(row["counts"]["vulnerable"] == 0 for row in plain)


def test_a_flaky_target_every_attempt_accounted_once(tmp_path: Path) -> None:
    with running_simulator("flaky", seed=3) as (url, _):
        result, report = scan(
            url,
            "--probes",
            "pack:system_prompt_leak,pack:jailbreak",
            "--repeat",
            "2",
            "--timeout",
            "1",
            "--max-error-share",
            "1",
            tmp=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    assert report is not None
    _, records = read_jsonl(tmp_path / "r.jsonl")
    plan = run_cli(
        "secureai",
        "scan",
        "--target",
        "openai:sim@http://127.0.0.1:1/v1",
        "--probes",
        "pack:system_prompt_leak,pack:jailbreak",
        "--repeat",
        "2",
        "--dry-run",
        "--format",
        "json",
    )
    planned = json.loads(plan.stdout)["attempts"]
    keys = [record.key for record in records]
    assert len(keys) == len(set(keys)) == planned == report["summary"]["attempts"]
    assert report["rate_limited_responses"] > 0
    errors = [record for record in records if record.outcome.value == "error"]
    assert all(record.error for record in errors)  # an error says what went wrong, and is never `safe`
    assert report["summary"]["outcomes"]["error"] == len(errors)


def test_resume_after_kill_sends_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    args = [
        "--target",
        "",
        "--probes",
        "pack:prompt_injection,pack:jailbreak",
        "--repeat",
        "2",
        "--out",
        str(out),
        "--concurrency",
        "4",
        "--format",
        "json",
    ]
    with running_simulator("vulnerable", latency_s=0.05) as (url, app):
        args[1] = f"openai:sim@{url}"
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "secureai"), "scan", *args],
            cwd=BACKEND_DIR,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 20):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        _, before = read_jsonl(out)
        assert len(before) > 10
        resumed = run_cli("secureai", "scan", *args, "--resume", timeout=300)
        assert resumed.returncode in (0, 1), resumed.stderr
        report = json.loads(resumed.stdout)
        _, after = read_jsonl(out)
        seen = dict(app.state.requests)
    keys = [record.key for record in after]
    assert len(keys) == len(set(keys)) == report["summary"]["attempts"]
    planned = json.loads(run_cli("secureai", "scan", *args, "--dry-run").stdout)["attempts"]
    assert len(keys) == planned > len(before)
    # the resumed run sent exactly the attempts the killed one had not checkpointed
    assert report["run"] == {**report["run"], "sent": planned - len(before), "already_done": len(before)}
    # the server saw every planned request once, plus at most the attempts in flight when the kill landed
    # (their answers never reached the checkpoint, so they are sent again; nothing finished is resent)
    received = sum(count for body, count in seen.items() if "Reply with the word OK" not in body)
    planned_requests = sum(len(record.turns) for record in after)
    max_turns = max(len(record.turns) for record in after)
    assert planned_requests <= received <= planned_requests + 4 * max_turns


def test_dry_run_prints_the_plan_and_sends_nothing(tmp_path: Path) -> None:
    result = run_cli(
        "secureai",
        "scan",
        "--target",
        "openai:m@http://127.0.0.1:1/v1",
        "--probes",
        "owasp:LLM07",
        "--strategies",
        "none,base64",
        "--repeat",
        "3",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "attempts" in flat and "estimated time" in flat


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--probes", "owasp:LLM99"], "LLM99"),
        (["--strategies", "nosuch"], "nosuch"),
        (["--rate", "fast"], "not a rate"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run_cli("secureai", "scan", "--target", "openai:m@http://127.0.0.1:1/v1", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    result = run_cli(
        "secureai",
        "scan",
        "--target",
        "openai:m@http://127.0.0.1:1/v1",
        "--probes",
        "owasp:LLM07",
        "--out",
        str(tmp_path / "r.jsonl"),
    )
    assert result.returncode == 3
    assert "cannot connect" in result.stderr
