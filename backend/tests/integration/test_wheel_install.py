"""The wheel as an operator installs it: built with `uv build`, installed into a fresh virtualenv, run from an
empty directory (no alembic.ini, no checkout beside it).

SLOW (subprocesses; about 25-40 s of wall time on a busy 2-core machine, most of it the first start of each
command in a virtualenv without bytecode yet). The one test of its kind: everything else about migrations is
tested in-process.

The dependencies come from uv.lock (`uv sync --frozen --offline --no-install-project` into the new virtualenv,
from uv's cache that `make setup` filled), then the wheel is installed with its requirements resolved against
them (no --no-deps) and `uv pip check` confirms they hold. Nothing of backend/.venv is shared.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from app.demo.simulator import running_simulator
from tests.conftest import BACKEND_DIR, TEST_SECRET_KEY, free_port

pytestmark = pytest.mark.slow

UV = BACKEND_DIR.parent / ".tools" / "bin" / "uv"
#: Package data the wheel must carry, one file of each kind (paths inside the wheel).
PACKAGE_DATA = (
    "app/db/migrations/env.py",
    "app/db/migrations/script.py.mako",
    "app/web/templates/base.html",
    "app/web/static/app.css",
    "app/reports/templates/report.html.j2",
    "app/compliance/frameworks/owasp-llm-2025.yaml",
    "app/engine/probes/packs/system_prompt_leak.yaml",
    "app/engine/data/judge_calibration.jsonl",
)


def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _install(tmp_path: Path) -> Path:
    """Build the wheel, make a virtualenv with the locked dependencies, install the wheel; its bin/ directory."""
    if not UV.exists():
        pytest.fail(f"{UV} is missing: `make setup` installs uv there")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    dist = tmp_path / "dist"
    built = _run(UV, "build", "--wheel", "--offline", "-q", "-o", dist, cwd=BACKEND_DIR, env=env)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("secureai-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [path for path in PACKAGE_DATA if path not in names] == []
    revisions = {Path(name).name for name in names if name.startswith("app/db/migrations/versions/")}
    assert {Path(script.path).name for script in migrate.script_directory().walk_revisions()} <= revisions

    venv = tmp_path / "venv"
    synced = _run(
        UV, "sync", "--frozen", "--offline", "--no-dev", "--no-install-project", "-q", "--python", sys.executable,
        cwd=BACKEND_DIR, env={**env, "UV_PROJECT_ENVIRONMENT": str(venv)},
    )  # fmt: skip
    assert synced.returncode == 0, synced.stderr
    python = venv / "bin" / "python"
    installed = _run(UV, "pip", "install", "--offline", "-q", "--python", python, wheel, cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr
    checked = _run(UV, "pip", "check", "--python", python, cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return venv / "bin"


def test_the_installed_wheel_migrates_serves_and_scans_from_an_empty_directory(tmp_path: Path) -> None:
    bin_dir = _install(tmp_path)
    work = tmp_path / "empty"
    work.mkdir()
    # bytecode is written on first import (PYTHONDONTWRITEBYTECODE would make each command compile its imports
    # again), as it is in an operator's virtualenv
    unset = ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    env = {
        **{key: value for key, value in os.environ.items() if key not in unset},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SECUREAI_DATA_DIR": str(tmp_path / "data"),
        "SECUREAI_SECRET_KEY": TEST_SECRET_KEY,
    }
    secureai = bin_dir / "secureai"

    upgraded = _run(secureai, "db", "upgrade", "--json", cwd=work, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    head = migrate.head_revisions()
    assert json.loads(upgraded.stdout)["to"] == list(head)
    doctor = _run(secureai, "db", "doctor", "--json", cwd=work, env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert json.loads(doctor.stdout)["status"] == "ok"

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(secureai), "serve", "--port", str(port)], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        assert ready.status_code == 200, ready.text
        assert ready.json()["revision"] == list(head)
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)  # a template, with its static files
        assert login.status_code == 200 and "/static/app.css" in login.text
        assert httpx.get(f"http://127.0.0.1:{port}/static/app.css", timeout=10).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    with running_simulator("vulnerable") as (target_url, _):
        scanned = _run(
            secureai, "scan", "-t", f"openai:sim@{target_url}", "-p", "pack:system_prompt_leak",
            "--format", "json", "-o", work / "attempts.jsonl",
            cwd=work, env=env,
        )  # fmt: skip
    assert scanned.returncode == 0, scanned.stderr
    result = json.loads(scanned.stdout)
    assert result["summary"]["findings"] > 0  # the simulator leaks its system prompt: the packaged probes found it
    report = _run(
        secureai, "report", work / "attempts.jsonl", "-f", "html", "-o", work / "scan.html", cwd=work, env=env
    )
    assert report.returncode == 0, report.stderr
    assert "system" in (work / "scan.html").read_text().lower()
