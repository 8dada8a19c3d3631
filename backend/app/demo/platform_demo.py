"""`secureai demo`: the whole platform on one machine, in one command.

Migrates the embedded SQLite database, creates the demo administrator, starts the deliberately vulnerable
simulator (a fake LLM app, clearly not a model) and the API server with its in-process scan worker, then
scans the simulator *through the platform's HTTP API* as a user would, downloads its HTML and PDF reports,
and prints the findings and where to look next. Nothing here is special-cased: the same routes, worker and
database as production.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from sqlalchemy.orm import Session

from app.auth import service
from app.config import Settings, get_settings
from app.db import migrate
from app.db.enums import UserRole
from app.db.session import get_engine

DEMO_ADMIN = "admin"
PASSWORD_FILE = "demo-admin-password.txt"  # noqa: S105 - a file name, not a password
SCAN_PROBES = "owasp:LLM01,owasp:LLM02,owasp:LLM05,owasp:LLM07"
REPORT_FORMATS = ("html", "pdf")


@dataclass
class DemoResult:
    """What the demo scan produced, for printing."""

    api_url: str
    scan: dict[str, Any]
    findings: list[dict[str, Any]]
    password_file: Path
    reports: list[Path]


def ensure_admin(settings: Settings) -> Path:
    """Create the demo administrator once; its random password is kept in a private file, never printed."""
    path = settings.data_dir / PASSWORD_FILE
    with Session(get_engine()) as session:
        if service.admin_exists(session):
            return path
        password = secrets.token_urlsafe(18)
        service.create_user(session, DEMO_ADMIN, "admin@demo.secureai.invalid", password, UserRole.ADMIN)
        session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


class BackgroundServer:
    """A uvicorn server in a thread, stopped cleanly (so the scan worker's lifespan shutdown runs)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start (is the port taken?)")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def run_demo_scan(
    api_url: str, simulator_url: str, password_file: Path, report_dir: Path, on_progress: Callable[[float], None]
) -> DemoResult:
    """Sign in, register the simulator as a target, scan it, wait for the result and download its HTML and
    PDF reports into `report_dir`, all over HTTP."""
    allow_simulator(simulator_url)
    with httpx.Client(base_url=f"{api_url}/api/v1", timeout=30) as client:
        password = password_file.read_text(encoding="utf-8").strip()
        login = client.post("/auth/login", json={"username": DEMO_ADMIN, "password": password})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        settings = {"type": "openai", "model": "secureai-simulator-vulnerable", "base_url": simulator_url}
        name = f"demo simulator {int(time.time())}"
        target = client.post("/targets", json={"name": name, "settings": settings})
        target.raise_for_status()
        started = client.post(
            "/scans",
            json={"target_id": target.json()["id"], "probes": SCAN_PROBES, "strategies": "none,base64", "name": name},
        )
        started.raise_for_status()
        scan_id = started.json()["id"]
        while True:
            scan = client.get(f"/scans/{scan_id}").json()
            on_progress(scan.get("progress") or 0.0)
            if scan["status"] not in ("pending", "running"):
                break
            time.sleep(0.3)
        findings: list[dict[str, Any]] = []
        cursor: int | None = None
        while True:
            params = {"limit": 200} if cursor is None else {"limit": 200, "cursor": cursor}
            answer = client.get(f"/scans/{scan_id}/findings", params=params)
            answer.raise_for_status()
            page = answer.json()
            findings.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        reports = []
        report_dir.mkdir(parents=True, exist_ok=True)
        for report_format in REPORT_FORMATS:
            answer = client.get(f"/scans/{scan_id}/report", params={"format": report_format}, timeout=120)
            answer.raise_for_status()
            path = report_dir / f"secureai-scan-{scan_id}.{report_format}"
            path.write_bytes(answer.content)
            reports.append(path)
    return DemoResult(api_url, scan, findings, password_file, reports)


def allow_simulator(simulator_url: str) -> None:
    """Let this process's platform reach the simulator: the egress policy refuses loopback unless allowed
    (SECUREAI_TARGET_ALLOW; demo mode allows 127.0.0.1:8900-8999, the simulator may sit on another port)."""
    port = urlsplit(simulator_url).port
    rule = f"127.0.0.1/32:{port}"
    current = os.environ.get("SECUREAI_TARGET_ALLOW", "")
    if port is not None and rule not in current.split(","):
        os.environ["SECUREAI_TARGET_ALLOW"] = f"{current},{rule}".lstrip(",")
        get_settings.cache_clear()


def prepare(settings: Settings) -> Path:
    """Migrate the embedded database and make sure the demo admin exists."""
    migrate.upgrade(settings.effective_database_url)
    return ensure_admin(settings)
