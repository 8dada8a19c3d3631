"""The compose stack's start-up, as plain processes against the real PostgreSQL and Redis (no container engine
runs where the tests run; docs/deploy.md): the backend's command waits for a database that does not exist yet,
migrates it, serves and turns ready; the worker's command starts with the old deployment's variable names; the
compose file's healthchecks pass against them, and so does the migration guide's `alembic upgrade head` in the
image's working directory. Timeouts are upper bounds, for a loaded machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db.migrate import head_revisions
from tests.conftest import BACKEND_DIR, TEST_SECRET_KEY, free_port, service_missing

REDIS_URL = os.environ.get("SECUREAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
COMPOSE = BACKEND_DIR.parent / "docker-compose.yml"

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def redis_server() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        service_missing(f"Redis not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / args[0]), *args[1:]],
        cwd=log.parent,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until(
    condition: str, check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{condition} did not happen (exit {process.poll()}):\n{log.read_text()}", pytrace=False)
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


@pytest.fixture
def late_database(postgres_server: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """The URL of a database that does not exist yet, and a function that creates it (dropped afterwards)."""
    admin_url = make_url(postgres_server)
    name = f"secureai_deploy_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def create() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))

    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False), create
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_stack_starts_as_plain_processes(
    late_database: tuple[str, Callable[[], None]], redis_server: str, tmp_path: Path
) -> None:
    database_url, create_database = late_database
    plain_url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    port = free_port()
    base = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL")}
    base |= {
        "DATABASE_URL": database_url,
        "SECUREAI_QUEUE": "celery",
        "SECUREAI_QUEUE_NAME": f"secureai.deploy-test.{uuid.uuid4().hex[:8]}",  # no other test's workers
        "SECUREAI_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",  # as in the image
    }
    backend_env = base | {"SECUREAI_SECRET_KEY": TEST_SECRET_KEY, "SECUREAI_BROKER_URL": redis_server}
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    backend_log = tmp_path / "backend.log"
    # the backend's command from the compose file, on a free loopback port instead of 0.0.0.0:8000
    command = [part.replace("0.0.0.0", "127.0.0.1") for part in compose["backend"]["command"]]
    command[command.index("--port") + 1] = str(port)
    backend = spawn([*command, "--wait", "60"], backend_env, backend_log)
    worker = None
    try:
        wait_until(
            "waiting for the database",
            lambda: "waiting for the database" in backend_log.read_text(),
            backend,
            backend_log,
            60,
        )
        create_database()
        ready = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)

        def is_ready() -> bool:
            try:
                return ready.get("/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until("/ready answering 200", is_ready, backend, backend_log, 60)
        answer = ready.get("/ready").json()
        assert answer["revision"] == list(head_revisions()) and answer["queue"] == "celery"
        output = backend_log.read_text()
        assert "is up" in output and f"-> {answer['revision'][0]}" in output and "serving on" in output
        assert TEST_SECRET_KEY not in output

        # the worker, configured with the earlier deployment's names only
        worker_env = base | {"SECRET_KEY": TEST_SECRET_KEY, "REDIS_URL": redis_server}
        worker_env.pop("SECUREAI_SECRET_KEY", None)
        worker_env.pop("SECUREAI_BROKER_URL", None)
        worker_log = tmp_path / "worker.log"
        worker = spawn(compose["worker"]["command"], worker_env, worker_log)
        wait_until("the worker being ready", lambda: " ready." in worker_log.read_text(), worker, worker_log, 60)
        worker_output = worker_log.read_text()
        assert "SECRET_KEY (the earlier deployment's name) is used as SECUREAI_SECRET_KEY" in worker_output
        assert "REDIS_URL (the earlier deployment's name) is used as SECUREAI_BROKER_URL" in worker_output
        assert TEST_SECRET_KEY not in worker_output

        # the compose file's healthchecks, run as written (the backend's on the test's port), with the variables
        # compose gives both services (DATABASE_URL in the plain libpq form)
        compose_env = backend_env | {"DATABASE_URL": plain_url}
        for service in ("backend", "worker"):
            check = [part.replace(":8000/", f":{port}/") for part in compose[service]["healthcheck"]["test"][1:]]
            check[0] = str(Path(sys.executable).parent / check[0])
            result = subprocess.run(check, env=compose_env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, (service, result.stderr)

        # the migration guide's `docker compose exec backend alembic upgrade head`, in the image's working
        # directory: alembic.ini beside `app`, a link to the package (tests/deploy/test_static.py checks the
        # Dockerfile lays /app out so)
        image_app = tmp_path / "app"
        image_app.mkdir()
        shutil.copyfile(BACKEND_DIR / "alembic.ini", image_app / "alembic.ini")
        (image_app / "app").symlink_to(BACKEND_DIR / "app")
        bin_dir = Path(sys.executable).parent
        guide = subprocess.run(
            ["bash", "-c", f"{bin_dir}/alembic upgrade head && {bin_dir}/alembic current"],
            env=compose_env,
            cwd=image_app,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert guide.returncode == 0, guide.stderr
        assert f"{answer['revision'][0]} (head)" in guide.stdout
    finally:
        codes = [stop(process) for process in (worker, backend) if process is not None]
    # uvicorn ends a server stopped by SIGTERM by raising the signal again after its clean shutdown
    assert codes in ([0, 0], [0, -signal.SIGTERM]), backend_log.read_text()
