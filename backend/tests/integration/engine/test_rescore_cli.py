"""`secureai rescore` as a user runs it: a recorded scan judged again, nothing sent, the same log format."""

from __future__ import annotations

import json
from pathlib import Path

from app.demo.simulator import running_simulator
from app.engine.sinks import read_jsonl
from tests.conftest import run_cli


def _scan(url: str, log: Path) -> None:
    result = run_cli(
        "secureai", "scan", "-t", f"openai:sim@{url}", "-p", "all", "--strategies", "none,base64", "-o", str(log),
        "--format", "json",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr


def test_rescoring_a_recorded_scan_gives_the_same_verdicts_and_sends_nothing(tmp_path: Path) -> None:
    log, again, report = tmp_path / "scan.jsonl", tmp_path / "again.jsonl", tmp_path / "again.json"
    with running_simulator("vulnerable") as (url, simulator):
        _scan(url, log)
        sent = sum(simulator.state.requests.values())
        result = run_cli("secureai", "rescore", str(log), "-o", str(again), "--report", str(report), "--json")
        assert sum(simulator.state.requests.values()) == sent, "rescore sent a request"
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    header, before = read_jsonl(log)
    new_header, after = read_jsonl(again)
    assert summary["attempts"] == len(before) == len(after) > 100 and summary["changed"] == 0
    assert [(r.key, r.outcome) for r in before] == [(r.key, r.outcome) for r in after]
    assert new_header is not None and header is not None
    assert new_header["rescored_from"] == str(log) and new_header["seed"] == header["seed"]
    assert all(v.version.startswith(f"{v.detector}@") for r in after for v in r.verdicts)
    assert {"marker@3", "canary@3", "refusal@2"} <= set(summary["detector_versions"])
    assert json.loads(report.read_text())["summary"]["total_attempts"] == len(before)  # over-refusal included


def test_a_log_written_before_canaries_were_recorded_is_judged_from_the_scan_seed(tmp_path: Path) -> None:
    log, old, again = tmp_path / "scan.jsonl", tmp_path / "old.jsonl", tmp_path / "again.jsonl"
    with running_simulator("vulnerable") as (url, _):
        _scan(url, log)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:  # as an earlier SecureAI wrote it: no context, finish reason or structured tool calls
        for name in ("context", "finish_reason", "completion_tokens", "tool_calls"):
            line.pop(name, None)
        for verdict in line.get("verdicts", ()):
            verdict.pop("version", None)
    old.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_cli("secureai", "rescore", str(old), "-o", str(again), "--json")
    assert result.returncode == 0, result.stderr
    _, before = read_jsonl(log)
    _, after = read_jsonl(again)
    # runaway output is judged with the finish reason, which such a log lacks: those become undecided, never
    # guessed; every other verdict is the same
    differ = {
        a.key: (a.outcome.value, b.outcome.value)
        for a, b in zip(before, after, strict=True)
        if a != b and a.outcome != b.outcome
    }
    assert any(old == "vulnerable" for old, _ in differ.values())
    assert all(key.startswith("uc.") and new == "unscored" for key, (_, new) in differ.items()), differ


def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    log = tmp_path / "scan.jsonl"
    missing = run_cli("secureai", "rescore", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    log.write_text('{"type": "scan"}\n')
    same = run_cli("secureai", "rescore", str(log), "-o", str(log))
    assert same.returncode == 2 and "--out must differ" in same.stderr
    empty = run_cli("secureai", "rescore", str(log), "-o", str(tmp_path / "o.jsonl"))
    assert empty.returncode != 0 and "holds no attempts" in empty.stderr and "Traceback" not in empty.stderr
    assert not (tmp_path / "o.jsonl").exists()
