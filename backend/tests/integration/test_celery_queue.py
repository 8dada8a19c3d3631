"""Scale-out for real: `secureai serve` with SECUREAI_QUEUE=celery queues scans on Redis, `secureai worker`
processes run them on PostgreSQL. Workers that die (SIGKILL) or stop (SIGTERM) mid-scan are replaced without
an attempt being sent twice, and a scan the broker never received is queued again by a worker's reaper.

Needs Redis (SECUREAI_TEST_REDIS_URL, default redis://127.0.0.1:6379/0) and PostgreSQL; each test has its own
queue name and database, so tests can run side by side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.auth import service
from app.db import migrate
from app.db.enums import UserRole
from app.db.models import Attempt
from app.db.tempdb import temporary_database
from app.demo.simulator import running_simulator
from app.jobs.scan_job import ScanOptions, plan_scan
from tests.conftest import BACKEND_DIR, TEST_SECRET_KEY, free_port, service_missing

REDIS_URL = os.environ.get("SECUREAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct-horse-battery-staple-42"
STALE_S = 3.0


def _redis_unreachable_reason() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis not reachable at {REDIS_URL}: {error}"
    return None


pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Cluster:
    """A database, a queue, the API server and any number of workers, as an operator would run them."""

    database_url: str
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api: httpx.Client | None = None

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "secureai"), *args],
            cwd=BACKEND_DIR,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        index = self.processes.index(process)
        return "".join(path.read_text() for path in self.logs.glob(f"*-{index}.log"))

    def serve(self, env: dict[str, str] | None = None) -> httpx.Client:
        port = free_port()
        process = self._spawn("serve", "serve", "--port", str(port), env=env)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/health")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, self.log_of(process)
                time.sleep(0.2)
        token = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        self.api = client
        return client

    def worker(self) -> subprocess.Popen[bytes]:
        process = self._spawn("worker", "worker", "--concurrency", "2")
        deadline = time.monotonic() + 60
        while " ready." not in self.log_of(process):
            assert process.poll() is None and time.monotonic() < deadline, self.log_of(process)
            time.sleep(0.2)
        return process

    def target(self, base_url: str, name: str = "sim") -> int:
        assert self.api is not None
        settings = {"type": "openai", "model": "sim", "base_url": base_url, "max_concurrency": 2}
        answer = self.api.post("/api/v1/targets", json={"name": name, "settings": settings})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    def start_scan(self, target_id: int, options: dict[str, Any]) -> int:
        assert self.api is not None
        answer = self.api.post("/api/v1/scans", json={"target_id": target_id, **options})
        assert answer.status_code == 202, answer.text
        return int(answer.json()["id"])

    def scan(self, scan_id: int) -> dict[str, Any]:
        assert self.api is not None
        found: dict[str, Any] = self.api.get(f"/api/v1/scans/{scan_id}").json()
        return found

    def wait_for(self, scan_id: int, statuses: tuple[str, ...] = ("completed",), timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.scan(scan_id)["status"] not in statuses:
            assert time.monotonic() < deadline, (self.scan(scan_id), [self.log_of(p)[-2000:] for p in self.processes])
            time.sleep(0.2)

    def attempts(self, scan_id: int) -> list[str]:
        engine = create_engine(self.database_url)
        with Session(engine) as session:
            keys = list(session.scalars(select(Attempt.key).where(Attempt.scan_id == scan_id)))
        engine.dispose()
        return keys

    def attempt_count(self, scan_id: int) -> int:
        engine = create_engine(self.database_url)
        with Session(engine) as session:
            count = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.scan_id == scan_id))
        engine.dispose()
        return int(count or 0)


@pytest.fixture
def cluster(postgres_server: str, tmp_path: Path) -> Iterator[Cluster]:
    reason = _redis_unreachable_reason()
    if reason:
        service_missing(reason)
    queue = f"test.{uuid.uuid4().hex[:12]}"
    with temporary_database(postgres_server) as database_url:
        migrate.upgrade(database_url)
        engine = create_engine(database_url)
        with Session(engine) as session:
            service.create_user(session, "admin", "admin@example.org", PASSWORD, UserRole.ADMIN)
            session.commit()
        engine.dispose()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SECUREAI_")},
            "DATABASE_URL": database_url,
            "SECUREAI_SECRET_KEY": TEST_SECRET_KEY,
            "SECUREAI_DATA_DIR": str(tmp_path / "data"),
            "SECUREAI_QUEUE": "celery",
            "SECUREAI_BROKER_URL": REDIS_URL,
            "SECUREAI_QUEUE_NAME": queue,
            "SECUREAI_SCAN_STALE_S": str(STALE_S),
            "SECUREAI_TARGET_ALLOW": "127.0.0.1/32",  # the simulator the scans attack
        }
        running = Cluster(database_url, env, tmp_path)
        try:
            yield running
        finally:
            for process in running.processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)
            if running.api is not None:
                running.api.close()
            client = redis.Redis.from_url(REDIS_URL)
            client.delete(queue, f"secureai:{queue}:reaper")


def _requests(planned: list[Any], done: set[str] | None = None) -> int:
    """Requests the simulator must receive for the attempts of `planned` not in `done` (a turn is a request)."""
    return sum(len(a.probe.attempts[a.prompt_index]) for a in planned if a.key not in (done or set()))


def test_scans_queued_by_the_api_wait_for_a_worker_and_run_once_each(cluster: Cluster) -> None:
    options = {"probes": "owasp:LLM07", "strategies": "none,base64"}
    planned = plan_scan(ScanOptions(**options)).attempts
    with running_simulator("vulnerable") as (url, simulator):
        api = cluster.serve()
        assert api.get("/ready").json()["queue"] == "celery"
        target = cluster.target(url)
        scans = [cluster.start_scan(target, options) for _ in range(3)]
        # the API published each scan before answering 202: three messages wait on the broker for a worker, and
        # the server ran nothing itself (no request reached the target)
        assert redis.Redis.from_url(REDIS_URL).llen(cluster.env["SECUREAI_QUEUE_NAME"]) == 3
        assert {cluster.scan(s)["status"] for s in scans} == {"pending"}
        assert sum(simulator.state.requests.values()) == 0
        cluster.worker(), cluster.worker()
        for scan_id in scans:
            cluster.wait_for(scan_id)
        # a completed scan awaited every request it sent, each counted on arrival: the count is final
        received = sum(simulator.state.requests.values())
    for scan_id in scans:
        keys = cluster.attempts(scan_id)
        assert sorted(keys) == sorted(a.key for a in planned)  # every attempt, once
        assert cluster.scan(scan_id)["vulnerability_count"] > 0
    assert received == 3 * (_requests(planned) + 1)  # and nothing sent twice (one preflight per scan)


def test_a_worker_killed_mid_scan_is_replaced_and_nothing_is_sent_twice(cluster: Cluster) -> None:
    options = {"probes": "owasp:LLM07", "strategies": "none,base64", "repeat": 3}
    planned = plan_scan(ScanOptions(probes=options["probes"], strategies=options["strategies"], repeat=3)).attempts
    with running_simulator("vulnerable", latency_s=0.05) as (url, _):
        api = cluster.serve()
        first = cluster.worker()
        target = cluster.target(url)
        scan_id = cluster.start_scan(target, options)
        deadline = time.monotonic() + 60
        while cluster.attempt_count(scan_id) < 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    done = set(cluster.attempts(scan_id))
    assert 10 <= len(done) < len(planned) and cluster.scan(scan_id)["status"] == "running"
    # the next worker reaches the target at a second address: a request of the killed worker still in flight
    # can land on the first simulator only, so this one counts exactly what the takeover sent
    with running_simulator("vulnerable", latency_s=0.05) as (second_url, second):
        settings = {"type": "openai", "model": "sim", "base_url": second_url, "max_concurrency": 2}
        moved = api.patch(f"/api/v1/targets/{target}", json={"settings": settings})
        assert moved.status_code == 200, moved.text
        cluster.worker()  # its reaper takes the scan over once the dead worker's heartbeat is stale
        cluster.wait_for(scan_id, timeout=STALE_S * 20)
        sent = sum(second.state.requests.values())
    assert sorted(cluster.attempts(scan_id)) == sorted(a.key for a in planned)
    assert sent == _requests(planned, done) + 1  # exactly the unfinished attempts, and one preflight


def test_a_stopped_worker_leaves_its_scan_for_another(cluster: Cluster) -> None:
    options = {"probes": "owasp:LLM07", "strategies": "none,base64", "repeat": 3}
    with running_simulator("vulnerable", latency_s=0.05) as (url, _):
        cluster.serve()
        first = cluster.worker()
        scan_id = cluster.start_scan(cluster.target(url), options)
        while cluster.attempt_count(scan_id) < 10:
            time.sleep(0.05)
        stopped_at = time.monotonic()
        os.killpg(first.pid, signal.SIGTERM)
        assert first.wait(timeout=30) == 0 and time.monotonic() - stopped_at < 15  # it did not finish the scan
        assert cluster.scan(scan_id)["status"] == "running"  # checkpointed, not failed
        cluster.worker()
        cluster.wait_for(scan_id, timeout=STALE_S * 20)
    assert len(set(cluster.attempts(scan_id))) == len(cluster.attempts(scan_id))


def test_a_scan_the_broker_never_got_is_queued_again_by_a_worker(cluster: Cluster) -> None:
    with running_simulator("vulnerable") as (url, _):
        api = cluster.serve(env={"SECUREAI_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"})  # nobody there
        ready = api.get("/ready")
        assert ready.status_code == 503 and "broker" in ready.json()["detail"]
        assert "redis://127.0.0.1" in ready.json()["detail"]
        scan_id = cluster.start_scan(cluster.target(url), {"probes": "owasp:LLM07"})  # still accepted
        assert cluster.scan(scan_id)["status"] == "pending"
        cluster.worker()  # on the real broker: its reaper finds the scan nobody queued
        cluster.wait_for(scan_id, timeout=STALE_S * 20)


def test_the_worker_explains_what_it_needs(cluster: Cluster, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    no_broker = run_cli("secureai", "worker", env={**cluster.env, "SECUREAI_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert no_broker.returncode == 3 and "broker redis://127.0.0.1:1/0 is unreachable" in no_broker.stderr
    empty = {**cluster.env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    unmigrated = run_cli("secureai", "worker", env=empty)
    assert unmigrated.returncode == 1 and "secureai db upgrade" in unmigrated.stderr
    keyless = run_cli("secureai", "worker", env={**cluster.env, "SECUREAI_SECRET_KEY": ""})
    assert keyless.returncode == 2 and "SECUREAI_SECRET_KEY" in keyless.stderr
    for result in (no_broker, unmigrated, keyless):
        assert "Traceback" not in result.stderr
