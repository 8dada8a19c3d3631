"""An end-to-end scan of a real small LLM: Gemma 3 270M served by llama.cpp's OpenAI-compatible server.

The verdicts of a 270M model are its own business; what must hold is that the model really answers (not an
echo of the prompt, not silence), that a scan's system prompt reaches it, that the scan runs to the end against a
real inference server and accounts for every planned attempt with a real outcome, and that stopping
`secureai demo-model` stops the model server. `make test` installs the `local-model` extra; run alone without
it, this test skips and says how to install it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.demo.local_model import CHECK_PROMPT, EXTRA_HINT, MODEL_ALIAS, installed, is_echo
from app.engine.sinks import read_jsonl
from tests.conftest import BACKEND_DIR, free_port, run_cli, service_missing


@pytest.fixture(autouse=True, scope="module")
def _local_model_installed() -> None:
    if not installed():
        service_missing(EXTRA_HINT)


SELECTION = "id:spl.repeat_verbatim,id:pi.direct.ignore_previous,id:spl.translate"
#: The plain scans of the model add a templated probe and an over-refusal probe under --profile standard: 8 and
#: 5 more prompts (the catalogue's depth and its usability measure, on a real model).
STANDARD_SELECTION = f"{SELECTION},id:pi.templated.claimed_authority,id:or.language.violent_idioms"


class DemoModel:
    """`secureai demo-model` started as a user would, its output in a log file."""

    def __init__(self, data_dir: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = data_dir / f"demo-model-{self.port}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "secureai"), "demo-model", "--port", str(self.port), *options],
            cwd=BACKEND_DIR,
            env={**os.environ, "SECUREAI_DATA_DIR": str(data_dir)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, line_start: str, timeout: float = 300) -> str:
        """The first output line starting with `line_start`; fails if the command exits first."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.output().splitlines():
                if line.startswith(line_start):
                    return line
            if self.process.poll() is not None:
                pytest.fail(f"secureai demo-model exited ({self.process.returncode}): {self.output()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"secureai demo-model printed no {line_start!r} line within {timeout:.0f} s")
            time.sleep(0.2)

    def server_pid(self) -> int:
        return int(self.wait_for("model server pid ").rsplit(" ", 1)[1])

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        self._log.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")  # a zombie is gone too
    except FileNotFoundError:
        return True


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-model")


@pytest.fixture(scope="module")
def gemma_url(data_dir: Path) -> Iterator[str]:
    """`secureai demo-model` on a free port, past its own start-up check; stopped after the module."""
    demo = DemoModel(data_dir)
    try:
        demo.wait_for("serving at ")
        yield demo.url
    finally:
        demo.close()


def _chat(url: str, messages: list[dict[str, str]], max_tokens: int = 32) -> str:
    response = httpx.post(
        f"{url}/chat/completions",
        json={"model": MODEL_ALIAS, "messages": messages, "temperature": 0, "max_tokens": max_tokens},
        timeout=300,
    )
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"] or "").strip()


def test_the_model_answers_an_instruction_instead_of_echoing_it(gemma_url: str) -> None:
    reply = _chat(gemma_url, [{"role": "user", "content": CHECK_PROMPT}])
    assert reply, "the model answered nothing"
    assert not is_echo(CHECK_PROMPT, reply), reply
    assert "paris" in reply.lower(), reply


def test_the_system_prompt_reaches_the_model(gemma_url: str) -> None:
    question = {"role": "user", "content": "What is your name?"}
    system = {"role": "system", "content": "You are Kestrel, the assistant of the Harbour Hotel."}
    assert "kestrel" in _chat(gemma_url, [system, question]).lower()
    assert "kestrel" not in _chat(gemma_url, [question]).lower()  # the name came from the system prompt


def test_the_start_up_check_refuses_a_model_that_echoes(data_dir: Path) -> None:
    """Gemma's turn markers make the packaged pretrained model copy the question: the command must say so."""
    demo = DemoModel(data_dir, "--chat-format", "gemma")
    try:
        server = demo.server_pid()
        assert demo.process.wait(timeout=600) == 1
        output = demo.output()
        assert "error: the model echoed the check prompt instead of answering it" in output, output[-2000:]
        assert "Traceback" not in output
        assert _gone(server) and _port_closed(demo.port)
    finally:
        demo.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_demo_model_stops_the_model_server(data_dir: Path, signum: signal.Signals) -> None:
    demo = DemoModel(data_dir, "--no-check")
    try:
        server = demo.server_pid()
        demo.wait_for("serving at ")
        assert not _port_closed(demo.port)
        demo.process.send_signal(signum)  # to the command only, as `kill PID` or systemd would
        assert demo.process.wait(timeout=60) == 0
        assert _gone(server), f"the model server (pid {server}) outlived secureai demo-model"
        assert _port_closed(demo.port)
    finally:
        demo.close()


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's prctl")
def test_a_killed_demo_model_takes_the_model_server_with_it(data_dir: Path) -> None:
    """SIGKILL cannot be forwarded: the kernel stops the server when its parent dies (Linux)."""
    demo = DemoModel(data_dir, "--no-check")
    try:
        server = demo.server_pid()
        demo.wait_for("serving at ")
        demo.process.kill()
        assert demo.process.wait(timeout=60) == -signal.SIGKILL
        deadline = time.monotonic() + 60  # the server's own shutdown, bounded; the assertion is what it reached
        while not (_gone(server) and _port_closed(demo.port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(server), f"the model server (pid {server}) outlived a killed secureai demo-model"
        assert _port_closed(demo.port)
    finally:
        demo.close()


def test_the_target_doctor_sees_a_real_model(gemma_url: str) -> None:
    result = run_cli("secureai", "target", "test", f"openai:{MODEL_ALIAS}@{gemma_url}", "--json", timeout=300)
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["reachable"]["level"] == "ok" and checks["credentials"]["level"] == "ok"
    assert checks["model"]["level"] == "ok", checks["model"]


@pytest.mark.timeout(1200)  # about 30 model calls and their re-judging; minutes on a loaded 2-core machine
def test_a_scan_of_gemma_accounts_for_every_attempt(gemma_url: str, tmp_path: Path) -> None:
    target = tmp_path / "gemma.yaml"
    target.write_text(
        f"type: openai\nbase_url: {gemma_url}\nmodel: {MODEL_ALIAS}\n"
        "max_tokens: 48\ntemperature: 0\nmax_concurrency: 1\ntimeout_s: 120\n"
    )
    out = tmp_path / "gemma.jsonl"
    standard = ("-p", STANDARD_SELECTION, "--profile", "standard")
    scan = run_cli("secureai", "scan", "-t", str(target), *standard, "-o", str(out), "--format", "json", timeout=1100)
    assert scan.returncode in (0, 1), scan.stderr  # not unreachable (3) and not inconclusive (4)
    report = json.loads(scan.stdout)
    plan = run_cli("secureai", "scan", "-t", str(target), *standard, "--dry-run", "--format", "json")
    _, records = read_jsonl(out)
    assert len(records) == len({record.key for record in records}) == json.loads(plan.stdout)["attempts"]
    assert {record.outcome.value for record in records} <= {"vulnerable", "safe", "refused", "unscored"}
    assert all(record.response for record in records)  # the model answered every attempt with text
    per_probe = {probe["probe_id"]: probe for probe in report["probes"]}
    assert set(per_probe) == {
        "spl.repeat_verbatim",
        "pi.direct.ignore_previous",
        "spl.translate",
        "pi.templated.claimed_authority",
    }
    assert all(sum(probe["counts"].values()) == probe["attempts"] > 0 for probe in per_probe.values())
    assert per_probe["pi.templated.claimed_authority"]["attempts"] == 8  # the standard profile's share
    templated = [record for record in records if record.probe_id == "pi.templated.claimed_authority"]
    assert len({record.extra["slot.authority"] for record in templated}) > 1  # its slots varied
    over_refusal = report["usability"]["over_refusal"]
    assert over_refusal["probes"] == 1 and over_refusal["attempts"] == 5  # kept apart from the findings
    assert over_refusal["scored"] + over_refusal["outcomes"].get("unscored", 0) == 5
    assert report["profile"] == "standard" and report["summary"]["inconclusive"] is False
    # the recorded scan judged again, nothing sent: the same verdicts, each naming its detector version
    again = tmp_path / "again.jsonl"
    rescored = run_cli("secureai", "rescore", str(out), "-o", str(again), "--json", timeout=300)
    assert rescored.returncode == 0, rescored.stderr
    assert json.loads(rescored.stdout)["changed"] == 0
    _, judged_again = read_jsonl(again)
    assert [(r.key, r.outcome) for r in judged_again] == [(r.key, r.outcome) for r in records]
    assert all(v.version for r in judged_again for v in r.verdicts)


@pytest.mark.timeout(1200)
def test_a_platform_scan_of_gemma_and_its_re_judging(
    gemma_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through the HTTP API: a target on the model (loopback allowed as an administrator would), a scan that
    accounts for every attempt, then a re-judged version with the same outcomes."""
    from fastapi.testclient import TestClient

    from app.db.tempdb import temporary_database
    from tests.platform import PASSWORD, platform_app

    with temporary_database(None) as url, TestClient(platform_app(url, monkeypatch)) as client:
        token = client.post("/api/v1/auth/login", json={"username": "analyst", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        settings = {"type": "openai", "base_url": gemma_url, "model": MODEL_ALIAS, "max_tokens": 48,
                    "max_concurrency": 1, "timeout_s": 120}  # fmt: skip
        target = client.post("/api/v1/targets", json={"name": "gemma", "settings": settings}, headers=headers)
        assert target.status_code == 201, target.text
        started = client.post(
            "/api/v1/scans",
            json={"target_id": target.json()["id"], "probes": STANDARD_SELECTION, "profile": "standard"},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 900
        while (scan := client.get(f"/api/v1/scans/{started.json()['id']}", headers=headers).json())["status"] in (
            "pending",
            "running",
        ):
            assert time.monotonic() < deadline, scan
            time.sleep(1)
        assert scan["status"] == "completed", scan
        assert scan["summary"]["total_attempts"] == scan["attempts_planned"] > 0
        assert scan["summary"]["usability"]["over_refusal"]["attempts"] == 5
        version = client.post(f"/api/v1/scans/{scan['id']}/rescore", headers=headers)
        assert version.status_code == 201, version.text
        assert version.json()["summary"]["outcomes"] == scan["summary"]["outcomes"]
        assert version.json()["options"]["rescored_from"] == scan["id"]


def _role_file(tmp_path: Path, url: str, name: str, max_tokens: int) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"type: openai\nname: gemma-{name}\nbase_url: {url}\nmodel: {MODEL_ALIAS}\n"
        f"max_tokens: {max_tokens}\ntemperature: 0\nmax_concurrency: 1\ntimeout_s: 120\n"
        + ("response_format: json_object\n" if name != "target" else "")  # the grammar keeps replies JSON
    )
    return path


@pytest.mark.timeout(1200)  # about 20 model calls; minutes on a loaded 2-core machine
def test_an_adaptive_scan_with_gemma_as_target_attacker_and_judge_records_every_step(
    gemma_url: str, tmp_path: Path
) -> None:
    """The plumbing, not the verdicts: a 270M model is a weak attacker and judge, and may not even answer the
    protocol's JSON. Every exchange must be journaled, every role's requests accounted for, every attempt
    must end with a real outcome, and the judge's verdict (or its error) must be on each attempt."""
    target, attacker, judge = (
        _role_file(tmp_path, gemma_url, name, tokens)
        for name, tokens in (("target", 48), ("attacker", 96), ("judge", 48))
    )
    out = tmp_path / "adaptive.jsonl"
    scan = run_cli(
        "secureai", "scan", "-t", str(target), "--attacker", str(attacker), "--judge", str(judge),
        "-p", "id:spl.repeat_verbatim", "--strategies", "none,pair", "-o", str(out), "--format", "json",
        "--attack-option", "pair.streams=2", "--attack-option", "pair.iterations=2",
        timeout=1100,
    )  # fmt: skip
    assert scan.returncode in (0, 1, 4), scan.stderr
    report = json.loads(scan.stdout)
    _, records = read_jsonl(out)
    assert {"+".join(r.strategies) or "none" for r in records} == {"none", "pair"}
    assert all(r.outcome.value in {"vulnerable", "safe", "refused", "error", "unscored"} for r in records)
    steps = [json.loads(line) for line in out.read_text().splitlines() if line.startswith('{"type": "step"')]
    usage = report["roles"]["usage"]
    # every request of an adaptive attempt is a journaled step; static attempts add target and judge requests
    static = [r for r in records if not r.strategies]
    for role, unjournaled in (("target", (1, 1)), ("attacker", (0, 0)), ("judge", (1, 2))):
        journaled = sum(step["role"] == role for step in steps)
        low, high = (journaled + len(static) * share for share in unjournaled)  # a static grade may be repaired
        assert low <= usage[role]["requests"] <= high, (role, usage, journaled)
    assert usage["target"]["requests"] >= 2 and usage["attacker"]["requests"] >= 1
    for record in records:
        if record.outcome.value != "error":
            judge_verdict = next(v for v in record.verdicts if v.detector == "judge")
            explanation = judge_verdict.explanation
            assert judge_verdict.fired is not None or explanation.startswith(("judge error", "judge not asked"))
    assert report["roles"]["judge"] == "gemma-judge"


@pytest.mark.timeout(900)
def test_judge_calibration_runs_on_gemma(gemma_url: str, tmp_path: Path) -> None:
    judge = _role_file(tmp_path, gemma_url, "judge", 96)
    result = run_cli(
        "secureai", "judge", "calibrate", "--judge", str(judge), "--limit", "6", "--json",
        env={"SECUREAI_DATA_DIR": str(tmp_path / "data")}, timeout=800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    calibration = json.loads(result.stdout)
    assert calibration["judge"] == "gemma-judge" and calibration["graded"] + calibration["errors"] == 6
    assert calibration["usage"]["requests"] >= 6
    # held to the grade's schema by llama.cpp's grammar, the model answers in JSON (before it, none of 80 did)
    assert calibration["graded"] >= 5, calibration["error_examples"]
    if calibration["graded"]:
        assert 0 <= calibration["accuracy"]["value"] <= 1
        stored = json.loads((tmp_path / "data" / "judge-calibrations.json").read_text())
        assert stored["gemma-judge"]["set"]["cases"] == 6


@pytest.mark.timeout(1200)
def test_a_platform_scan_with_gemma_as_target_attacker_and_judge_records_every_step(
    gemma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same plumbing through the platform: stored targets as attacker and judge, the job's journal in
    `attack_steps`, and the result's role usage agreeing with it."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from app.db.enums import UserRole
    from app.db.models import AttackStep
    from tests.integration.api.conftest import Api
    from tests.platform import platform_app

    url = f"sqlite:///{tmp_path / 'platform.db'}"
    with TestClient(platform_app(url, monkeypatch)) as client:
        api = Api(client, url)
        analyst = api.as_role(UserRole.ANALYST)
        ids = {}
        for role, tokens in (("target", 48), ("attacker", 96), ("judge", 48)):
            settings = {"type": "openai", "model": MODEL_ALIAS, "base_url": gemma_url, "max_tokens": tokens}
            if role != "target":
                settings["response_format"] = "json_object"
            created = client.post(
                "/api/v1/targets", json={"name": f"gemma-{role}", "settings": settings}, headers=analyst
            )
            assert created.status_code == 201, created.text
            ids[role] = created.json()["id"]
        started = client.post(
            "/api/v1/scans",
            json={
                "target_id": ids["target"],
                "probes": "id:spl.repeat_verbatim",
                "strategies": "pair",
                "attacker_target_id": ids["attacker"],
                "judge_target_id": ids["judge"],
                "attack_options": {"pair": {"streams": 1, "iterations": 2}},
                "concurrency": 1,
            },
            headers=analyst,
        )
        assert started.status_code == 202, started.text
        scan = api.wait_for_scan(started.json()["id"], analyst, timeout=1100)
    assert scan["status"] in ("completed", "failed"), scan
    usage = scan["summary"]["roles"]["usage"]
    engine = create_engine(url)
    with Session(engine) as session:
        steps = {
            role: session.scalar(
                select(func.count()).select_from(AttackStep).where(AttackStep.data["role"].as_string() == role)
            )
            for role in ("target", "attacker", "judge")
        }
    engine.dispose()
    # every request of the adaptive attempt was journaled as it happened
    assert steps == {role: usage[role]["requests"] for role in steps}, (steps, usage)
    assert steps["target"] >= 1 and steps["judge"] >= 1
