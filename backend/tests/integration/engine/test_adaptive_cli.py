"""Adaptive attacks and the judge through `secureai scan`, against rule-based doubles served over real HTTP.

The `guarded` target refuses everything and, in refusing, reveals a one-off password; only a request that
quotes a password it issued is obeyed. A fixed prompt therefore cannot succeed, and an adaptive attack can only
succeed by really feeding the target's reply back to the attacker. The `attacker` and `judge` doubles speak the
documented protocol (docs/adaptive.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from app.demo.simulator import running_roles as doubles
from app.demo.simulator import running_simulator
from app.engine.sinks import read_jsonl, read_steps
from tests.conftest import BACKEND_DIR, run_cli

PROBE = "id:jb.roleplay.unrestricted_persona"


def _scan(urls: dict[str, Any], out: Path, *extra: str, judge: bool = True, timeout: float = 120) -> Any:
    args = ["secureai", "scan", "-t", f"openai:t@{urls['target'][0]}", "-p", PROBE, "-o", str(out), "--format", "json"]
    args += ["--attacker", f"openai:a@{urls['attacker'][0]}"]
    if judge:
        args += ["--judge", f"openai:j@{urls['judge'][0]}"]
    return run_cli(*args, *extra, timeout=timeout)


def _by_stack(out: Path) -> dict[str, list[Any]]:
    _, records = read_jsonl(out)
    stacks: dict[str, list[Any]] = {}
    for record in records:
        stacks.setdefault("+".join(record.strategies) or "none", []).append(record)
    return stacks


def test_adaptive_strategies_get_past_a_target_that_only_a_feedback_loop_can_beat(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with doubles() as urls:
        result = _scan(urls, out, "--strategies", "none,pair,tap,crescendo")
        assert result.returncode == 0, result.stderr
        target_bodies = urls["target"][1].state.requests
    stacks = _by_stack(out)
    # the probe's own prompts, sent as they are, never get through
    assert [record.outcome.value for record in stacks["none"]] == ["refused", "refused"]
    for name in ("pair", "tap", "crescendo"):
        for record in stacks[name]:
            assert record.outcome.value == "vulnerable", (name, record.response)
            assert record.extra["adaptive"] == name and record.extra["adaptive.success"] == "yes"
            # the winning request quotes the password the target gave in an earlier reply
            assert "The password is pw-" in record.turns[-1]
            conversation = json.loads(record.extra["adaptive.conversation"])
            assert conversation[-1] == {"role": "assistant", "content": record.response}
            assert int(record.extra["adaptive.queries"]) >= 2
            assert {v.detector for v in record.verdicts if v.fired} >= {"marker", "judge"}
            assert record.extra["adaptive.judge_reason"] == "the assistant complied with the request"
    assert stacks["tap"][0].extra["adaptive.node"] == "r.1"  # the path in the tree that won
    assert "off-topic branch(es) pruned" in stacks["tap"][0].extra["adaptive.notes"]
    assert "backtrack 1" in stacks["crescendo"][0].extra["adaptive.notes"]
    report = json.loads(result.stdout)
    assert report["roles"]["usage"]["attacker"]["requests"] > 0
    assert report["roles"]["usage"]["target"]["requests"] == sum(target_bodies.values()) - 1  # minus the preflight
    # every step was journaled as it happened
    steps = read_steps(out)
    assert {key.split(":")[2] for key in steps} == {"pair", "tap", "crescendo"}
    assert all(step["role"] in ("target", "attacker", "judge") for per in steps.values() for step in per.values())


def test_best_of_n_needs_no_attacker_and_slips_past_a_keyword_filter(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with running_simulator("filtered") as (url, _):
        plain = run_cli(
            "secureai", "scan", "-t", f"openai:t@{url}", "-p", "id:pi.direct.ignore_previous", "-o", str(out),
            "--format", "json", "--strategies", "none,best_of_n", "--attack-option", "best_of_n.samples=40",
        )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    stacks = _by_stack(out)
    assert all(record.outcome.value == "refused" for record in stacks["none"])
    assert any(record.outcome.value == "vulnerable" for record in stacks["best_of_n"])
    for record in stacks["best_of_n"]:
        if record.outcome.value == "vulnerable":
            assert record.turns[-1] != record.turns[-1].lower()  # an augmented variant won
            assert record.context["marker"] in record.turns[-1]  # the marker itself was left intact


def test_a_static_probe_is_graded_by_the_judge_when_one_is_configured(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with running_simulator("vulnerable") as (target, _), running_simulator("judge") as (judge, judge_app):
        result = run_cli(
            "secureai", "scan", "-t", f"openai:t@{target}", "-p", PROBE, "-o", str(out), "--format", "json",
            "--judge", f"openai:j@{judge}",
        )  # fmt: skip
        graded = sum(judge_app.state.requests.values())
    assert result.returncode == 0, result.stderr
    _, records = read_jsonl(out)
    assert graded == len(records) == 2
    for record in records:
        judge_verdict = next(v for v in record.verdicts if v.detector == "judge")
        assert judge_verdict.fired is True and judge_verdict.version == "judge@3"
    assert json.loads(result.stdout)["roles"]["judge"].startswith("openai:j")


def test_without_a_judge_the_judge_verdict_is_undecided_and_nothing_is_called(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with running_simulator("vulnerable") as (target, _):
        result = run_cli("secureai", "scan", "-t", f"openai:t@{target}", "-p", PROBE, "-o", str(out))
    assert result.returncode == 0, result.stderr
    _, records = read_jsonl(out)
    for record in records:
        verdict = next(v for v in record.verdicts if v.detector == "judge")
        assert verdict.fired is None and verdict.explanation == "no judge configured"
        assert record.outcome.value == "vulnerable"  # the marker decided


def test_budgets_stop_the_scan_cleanly_and_resume_continues(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with doubles() as urls:
        stopped = _scan(urls, out, "--strategies", "pair", "--concurrency", "1", "--max-requests", "target=4")
        sent_first = sum(urls["target"][1].state.requests.values()) - 1
        assert stopped.returncode == 4, stopped.stderr
        assert "budget (4) is used up" in stopped.stderr and "--resume" in stopped.stderr
        assert sent_first == 4
        resumed = _scan(urls, out, "--strategies", "pair", "--concurrency", "1", "--resume")
        assert resumed.returncode == 0, resumed.stderr
        bodies = urls["target"][1].state.requests
    assert max(count for body, count in bodies.items() if "Reply with the word OK" not in body) == 1
    _, records = read_jsonl(out)
    assert len(records) == 2 and all(record.outcome.value == "vulnerable" for record in records)
    assert sum(int(record.extra["adaptive.replayed_steps"]) for record in records) > 0


def test_bad_adaptive_options_are_one_line_usage_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "x.jsonl")
    cases = [
        (["--strategies", "pair"], "needs --attacker"),
        (["--strategies", "base64+pair", "--attacker", "openai:a@http://127.0.0.1:1/v1"], "must come first"),
        (["--strategies", "pair", "--attacker", "x:y", "--dry-run"], "x"),
        (["--attack-option", "pair.depth=3", "--dry-run"], "pair has no parameter 'depth'"),
        (["--attack-option", "tap.depth=99", "--dry-run"], "tap.depth must be 1-10"),
        (["--max-requests", "robot=3", "--dry-run"], "ROLE=N"),
    ]
    for extra, message in cases:
        result = run_cli("secureai", "scan", "-t", "openai:m@http://127.0.0.1:1/v1", "-p", PROBE, "-o", out, *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (extra, result.stderr)


def test_dry_run_gives_the_worst_case_per_role(tmp_path: Path) -> None:
    result = run_cli(
        "secureai", "scan", "-t", "openai:m@http://127.0.0.1:1/v1", "-p", PROBE, "--dry-run", "--format", "json",
        "--strategies", "none,pair,tap,crescendo,best_of_n", "--attacker", "openai:a@http://127.0.0.1:1/v1",
        "--judge", "openai:j@http://127.0.0.1:1/v1", "--attack-option", "pair.streams=2",
        "--attack-option", "pair.iterations=3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    roles = json.loads(result.stdout)["requests_by_role"]
    # per prompt (the probe has two): none 1 target + 1 judge; pair 2x3 sends, 1 opening + 2x2 refinements,
    # 6 grades; tap (depth 3, branching 2, width 3) 2 + 4 + 6 = 12 children: 13 sends, 12 proposals, 13 grades
    # + 12 topic checks; crescendo (5 turns, 3 backtracks) 8 each; best_of_n (10) 10 sends and grades
    assert roles == {
        "target": 2 * (1 + 6 + 13 + 8 + 10),
        "attacker": 2 * (0 + 5 + 12 + 8 + 0),
        "judge": 2 * (1 + 6 + 25 + 8 + 10),
    }


def test_the_same_seed_and_replies_give_the_same_run(tmp_path: Path) -> None:
    runs = []
    with doubles() as urls:
        for name in ("a", "b"):
            out = tmp_path / f"{name}.jsonl"
            assert _scan(urls, out, "--strategies", "pair,tap,crescendo").returncode == 0
            _, records = read_jsonl(out)
            runs.append(sorted((r.key, r.outcome, r.turns, r.response, r.extra.get("adaptive.node")) for r in records))
    assert runs[0] == runs[1]


def test_resume_after_kill_9_resends_no_recorded_step(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with doubles(latency_s=0.05) as urls:
        args = [
            "scan", "-t", f"openai:t@{urls['target'][0]}", "-p", "pack:jailbreak+!tag:templated", "-o", str(out),
            "--attacker", f"openai:a@{urls['attacker'][0]}", "--judge", f"openai:j@{urls['judge'][0]}",
            "--strategies", "pair", "--concurrency", "1", "--attack-option", "pair.streams=1", "--format", "json",
        ]  # fmt: skip
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "secureai"), *args],
            cwd=BACKEND_DIR,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _mid_attack(out):
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        _, finished_before = read_jsonl(out)
        done = {record.key for record in finished_before}
        unfinished = sum(len(steps) for key, steps in read_steps(out).items() if key not in done)
        assert unfinished >= 1
        resumed = run_cli("secureai", *args, "--resume", timeout=300)
        assert resumed.returncode in (0, 1), resumed.stderr
        counts = {role: dict(urls[role][1].state.requests) for role in urls}
    _, records = read_jsonl(out)
    assert len(records) == len({r.key for r in records}) == 20 > len(finished_before)
    # one request at a time: at most the single request in flight at the kill was sent twice, per role
    for role, bodies in counts.items():
        repeated = [count for body, count in bodies.items() if count > 1 and "Reply with the word OK" not in body]
        assert sum(count - 1 for count in repeated) <= 1, role
    # the attack cut short continued from its journal: every step it had recorded was replayed, not resent
    assert sum(int(r.extra["adaptive.replayed_steps"]) for r in records) == unfinished


def _mid_attack(out: Path) -> bool:
    """Whether the log holds a dozen journaled steps and ends inside an unfinished attack."""
    if not out.exists():
        return False
    lines = out.read_text().splitlines()
    return sum('"type": "step"' in line for line in lines) >= 12 and lines[-1].startswith('{"type": "step"')


def _sloppy_judge(garbage_first: bool) -> FastAPI:
    """A judge that answers prose; with `garbage_first` it complies once asked to repair, else never."""
    app = FastAPI()
    app.state.calls = 0

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        app.state.calls += 1
        repairing = "was not the JSON object" in body["messages"][-1]["content"]
        text = '{"condition_met": true, "score": 9, "reason": "ok"}' if repairing and garbage_first else "It worked!"
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_unparseable_judge_replies_are_repaired_once_then_counted_as_errors(tmp_path: Path) -> None:
    for repairs, expected in ((True, True), (False, None)):
        out = tmp_path / f"{repairs}.jsonl"
        app = _sloppy_judge(repairs)
        with running_simulator("refusing") as (target, _), serving(app) as judge:
            result = run_cli(
                "secureai", "scan", "-t", f"openai:t@{target}", "-p", PROBE, "-o", str(out), "--format", "json",
                "--judge", f"openai:j@{judge}",
            )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        _, records = read_jsonl(out)
        assert app.state.calls == 2 * len(records)  # each grade asked once, repaired once
        verdicts = [next(v for v in r.verdicts if v.detector == "judge") for r in records]
        assert [v.fired for v in verdicts] == [expected] * len(records)
        if expected is None:
            assert all("did not hold the JSON" in v.explanation for v in verdicts)
            assert json.loads(result.stdout)["roles"]["usage"]["judge"]["errors"] == len(records)
            assert all(r.outcome.value == "refused" for r in records)  # never a verdict from an error


def test_a_calibrated_judge_is_cited_by_the_scans_and_reports_that_use_it(tmp_path: Path) -> None:
    env = {"SECUREAI_DATA_DIR": str(tmp_path / "data")}
    out, html = tmp_path / "scan.jsonl", tmp_path / "report.html"
    with running_simulator("judge") as (judge, judge_app), running_simulator("vulnerable") as (target, _):
        calibrated = run_cli("secureai", "judge", "calibrate", "--judge", f"openai:j@{judge}", "--json", env=env)
        assert calibrated.returncode == 0, calibrated.stderr
        figures = json.loads(calibrated.stdout)
        assert sum(judge_app.state.requests.values()) == figures["set"]["cases"] >= 300
        scan = run_cli(
            "secureai", "scan", "-t", f"openai:t@{target}", "-p", PROBE, "-o", str(out), "--judge",
            f"openai:j@{judge}", "--format", "json", env=env,
        )  # fmt: skip
    assert figures["graded"] + figures["errors"] == figures["set"]["cases"]
    confusion = figures["confusion"]
    assert sum(confusion.values()) == figures["graded"]
    accuracy = (confusion["true_positive"] + confusion["true_negative"]) / figures["graded"]
    assert figures["accuracy"]["value"] == round(accuracy, 3)
    low, high = figures["kappa"]["ci95"]
    assert low <= figures["kappa"]["value"] <= high
    assert set(figures["by_kind"]) >= {"judge-injection", "quotes-attack", "easy-comply", "easy-refuse"}
    result = json.loads(scan.stdout)
    assert result["judge_calibration"]["accuracy"] == figures["accuracy"]
    assert run_cli("secureai", "report", str(out), "--format", "html", "-o", str(html), env=env).returncode == 0
    # a report rendered from the attempt log has no result document: render the JSON result instead
    (tmp_path / "result.json").write_text(scan.stdout)
    rendered = run_cli(
        "secureai", "report", str(tmp_path / "result.json"), "--format", "html", "-o", str(html), env=env
    )
    assert rendered.returncode == 0, rendered.stderr
    text = html.read_text()
    assert "graded by a judge that agreed with people on" in text and "Judge calibration" in text


def test_calibrating_with_a_broken_cases_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"id": "x", "label": true}\n')
    result = run_cli("secureai", "judge", "calibrate", "--judge", "openai:j@http://127.0.0.1:1/v1", "--cases", str(bad))
    assert result.returncode == 2 and "missing field(s)" in result.stderr and "Traceback" not in result.stderr


def test_a_judge_with_response_format_is_asked_for_json_in_the_reply_schema(tmp_path: Path) -> None:
    """Small local models answer JSON only when the server constrains them to a schema: `response_format`."""
    bodies: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        bodies.append(await request.json())
        text = '{"condition_met": false, "score": 2, "reason": "refused"}'
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    out = tmp_path / "scan.jsonl"
    for mode in ("json_schema", "json_object"):
        bodies.clear()
        with running_simulator("refusing") as (target, _), serving(app) as judge:
            spec = tmp_path / f"judge-{mode}.yaml"
            spec.write_text(f"type: openai\nbase_url: {judge}\nmodel: j\nresponse_format: {mode}\n")
            result = run_cli(
                "secureai", "scan", "-t", f"openai:t@{target}", "-p", PROBE, "-o", str(out), "--judge", str(spec),
            )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(bodies) == 2
        for body in bodies:
            requested = body["response_format"]
            schema = requested["json_schema"]["schema"] if mode == "json_schema" else requested["schema"]
            assert requested["type"] == mode
            assert schema["required"] == ["condition_met", "score", "reason"]


def test_the_judge_of_a_scripted_multi_turn_probe_sees_the_whole_conversation(tmp_path: Path) -> None:
    prompts: list[str] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        prompts.append((await request.json())["messages"][-1]["content"])
        text = '{"condition_met": false, "score": 1, "reason": "no"}'
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    with running_simulator("refusing") as (target, _), serving(app) as judge:
        result = run_cli(
            "secureai", "scan", "-t", f"openai:t@{target}", "-p", "id:jb.multi_turn.crescendo",
            "-o", str(tmp_path / "scan.jsonl"), "--judge", f"openai:j@{judge}",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(prompts) == 2  # two scripted conversations, each graded once
    for prompt in prompts:
        attack = prompt.split("<<<PROMPT-", 1)[1]
        assert attack.count("[user] ") >= 3 and "[assistant] I'm sorry" in attack
