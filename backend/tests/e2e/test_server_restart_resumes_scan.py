"""A server killed mid-scan (kill -9) resumes the scan on restart: no attempt lost, none finished sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.auth import service
from app.crud.targets import update_target
from app.db import migrate
from app.db.enums import UserRole
from app.db.models import Attempt, Scan
from app.demo.simulator import running_simulator
from app.jobs.scan_job import ScanOptions, plan_scan
from tests.conftest import BACKEND_DIR, TEST_SECRET_KEY, free_port

PASSWORD = "restart-test-password-1234"
OPTIONS = {
    "probes": "pack:system_prompt_leak,pack:prompt_injection",
    "strategies": "none",
    "repeat": 3,
    "profile": "quick",
}


@contextmanager
def _server(url: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": url, "SECUREAI_SECRET_KEY": TEST_SECRET_KEY}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "secureai"), "serve", "--port", str(port)],
            cwd=BACKEND_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_a_scan_survives_kill_9_of_the_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'secureai.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        service.create_user(session, "ops", "ops@example.org", PASSWORD, UserRole.ANALYST)
        session.commit()
    api = f"http://127.0.0.1:{free_port()}"
    port = int(api.rsplit(":", 1)[1])
    with (
        running_simulator("vulnerable", latency_s=0.05) as (target_url, _),
        _server(url, port, tmp_path / "server.log") as first,
    ):
        client = httpx.Client(base_url=f"{api}/api/v1", timeout=10)
        token = client.post("/auth/login", json={"username": "ops", "password": PASSWORD}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        target = client.post(
            "/targets", json={"name": "sim", "settings": {"type": "openai", "model": "s", "base_url": target_url}}
        ).json()
        scan_id = client.post("/scans", json={"target_id": target["id"], **OPTIONS, "concurrency": 4}).json()["id"]
        deadline = time.monotonic() + 60
        while True:
            with Session(engine) as session:
                done = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.scan_id == scan_id))
            if (done or 0) >= 20:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the restarted server reaches the target at a second address: a request the killed server had in flight
    # can still land on the first simulator, never on this one, so its count is exactly what the restart sent
    with running_simulator("vulnerable", latency_s=0.05) as (second_url, second):
        with Session(engine) as session, session.begin():
            scan = session.get_one(Scan, scan_id)
            assert scan.status.value == "running"  # killed: left for the restart
            before = set(session.scalars(select(Attempt.key).where(Attempt.scan_id == scan_id)))
            assert scan.target is not None
            update_target(session, scan.target, settings={**scan.target.settings, "base_url": second_url})
        with _server(url, port, tmp_path / "server.log"):
            deadline = time.monotonic() + 120
            while (status := client.get(f"/scans/{scan_id}").json()["status"]) in ("pending", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
        resent = sum(second.state.requests.values())
    assert status == "completed"
    plan = plan_scan(ScanOptions.from_json(OPTIONS)).attempts
    with Session(engine) as session:
        keys = list(session.scalars(select(Attempt.key).where(Attempt.scan_id == scan_id)))
    engine.dispose()
    assert sorted(keys) == sorted(a.key for a in plan)  # every planned attempt, exactly once
    assert len(before) < len(plan)
    # after the restart the target got the requests of the unfinished attempts (and one preflight), no more
    remaining = sum(len(a.probe.attempts[a.prompt_index]) for a in plan if a.key not in before)
    assert resent == remaining + 1
