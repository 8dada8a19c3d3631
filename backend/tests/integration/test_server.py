"""`secureai serve` as a real process: /health, /ready before and after migrating, problem+json errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import get_settings
from app.db.session import get_engine
from app.main import create_app
from tests.conftest import BACKEND_DIR, free_port, run_cli


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "SECUREAI_SECRET_KEY": "6TUL4phLwwFJi0QHZ-LMHih6aWOFXps-NmnPXRJ3R8EuOhyxHBPP3X5g4Xri7MqR",
        "SECUREAI_DATA_DIR": str(tmp_path / "d"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'server.db'}",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "secureai"), "serve", "--port", str(port)],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"server did not start: {process.communicate()[0]}")
    yield base, env
    process.terminate()
    process.wait(timeout=10)


def test_health_ready_and_problem_json(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}

    not_ready = httpx.get(f"{base}/ready")
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/problem+json"
    assert "run `secureai db upgrade`" in not_ready.json()["detail"]

    assert run_cli("secureai", "db", "upgrade", env={"DATABASE_URL": env["DATABASE_URL"]}).returncode == 0
    ready = httpx.get(f"{base}/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"

    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "SecureAI"
    docs = httpx.get(f"{base}/docs")  # Swagger UI from this server, never from a CDN
    assert docs.status_code == 200 and "script-src 'self';" in docs.headers["content-security-policy"]
    assert re.findall(r'(?:src|href)="([^"]+)"', docs.text) == [
        "/static/favicon.svg",
        "/static/vendor/swagger-ui-5.35.0.css",
        "/static/vendor/swagger-ui-5.35.0-bundle.js",
        "/static/api-docs.js",
        "/openapi.json",
    ]
    assert httpx.get(f"{base}/redoc").status_code == 404

    missing = httpx.get(f"{base}/no-such-route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404


def test_ready_is_503_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    get_settings.cache_clear()
    get_engine.cache_clear()
    response = TestClient(create_app()).get("/ready")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unreachable")


def test_serve_without_secret_key_explains_and_exits_2(tmp_path: Path) -> None:
    result = run_cli("secureai", "serve", env={"SECUREAI_SECRET_KEY": "", "SECUREAI_DEMO": "0"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "SECUREAI_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
