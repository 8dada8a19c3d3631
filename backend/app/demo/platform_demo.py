"""`secureai demo`: the whole platform on one machine, in one command.

Migrates the embedded SQLite database, creates the demo administrator, starts the deliberately vulnerable
simulator (a fake LLM app, clearly not a model), its rule-based judge double and the API server with its
in-process scan worker, then scans the simulator *through the platform's HTTP API* as a user would, downloads
the HTML and PDF reports, and prints the findings and where to look next. Nothing here is special-cased: the
same routes, worker and database as production.

It runs two scans. The harmful-content pack first, with the judge double as the scan's judge: its probes are
judge-decided, and the double grades the simulator's marked, simulated compliance as met and its refusals as
not met (docs/scanning.md, "Harmful content"). Then the OWASP scan, without a judge, so that its verdicts are
the deterministic detectors' own: the double says "met" to any reply that does not refuse, which is exact for
the simulator's harmful-content answers and far too lenient for the rest.
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
SCAN_PROBES = "owasp:LLM01,owasp:LLM02,owasp:LLM05,owasp:LLM07,pack:bias_fairness,pack:over_refusal"
HARMFUL_PROBES = "pack:harmful_content"
#: The demo's scans in the order they run: title, probe selection, strategies, graded by the judge double,
#: profile (two prompts of each probe, so the demo stays short).
DEMO_SCANS: tuple[tuple[str, str, str, bool, str], ...] = (
    ("harmful content, graded by the judge double", HARMFUL_PROBES, "none", True, "quick"),
    ("OWASP LLM01, LLM02, LLM05, LLM07, bias and over-refusal", SCAN_PROBES, "none,base64", False, "quick"),
)
REPORT_FORMATS = ("html", "pdf")


@dataclass
class DemoScan:
    """One scan of the demo: what it is, its final state, its findings and its downloaded reports."""

    title: str
    scan: dict[str, Any]
    findings: list[dict[str, Any]]
    reports: list[Path]


@dataclass
class DemoResult:
    """What the demo scans produced, for printing (in the order they ran; the OWASP scan last)."""

    api_url: str
    scans: list[DemoScan]
    password_file: Path


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

    @property
    def port(self) -> int:
        """The port the server listens on (the one the OS chose when it was started on port 0)."""
        return int(self.server.servers[0].sockets[0].getsockname()[1])


def run_demo_scan(
    api_url: str,
    simulator_url: str,
    judge_url: str,
    password_file: Path,
    report_dir: Path,
    on_progress: Callable[[str, float], None],
) -> DemoResult:
    """Sign in, register the simulator and its judge double as targets, run the two demo scans (see the module),
    wait for each result and download its HTML and PDF reports into `report_dir`, all over HTTP.
    `on_progress` gets each scan's title and progress."""
    allow_simulator(simulator_url)
    allow_simulator(judge_url)
    with httpx.Client(base_url=f"{api_url}/api/v1", timeout=30) as client:
        password = password_file.read_text(encoding="utf-8").strip()
        login = client.post("/auth/login", json={"username": DEMO_ADMIN, "password": password})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        stamp = int(time.time())
        target_id = _create_target(client, f"demo simulator {stamp}", "vulnerable", simulator_url)
        judge_id = _create_target(client, f"demo judge double {stamp}", "judge", judge_url)
        scans = [
            _run_scan(
                client,
                report_dir,
                on_progress,
                title,
                target_id,
                probes,
                strategies,
                judge_id if judged else None,
                profile,
                stamp,
            )
            for title, probes, strategies, judged, profile in DEMO_SCANS
        ]
    return DemoResult(api_url, scans, password_file)


def _create_target(client: httpx.Client, name: str, mode: str, url: str) -> int:
    settings = {"type": "openai", "model": f"secureai-simulator-{mode}", "base_url": url}
    target = client.post("/targets", json={"name": name, "settings": settings})
    target.raise_for_status()
    return int(target.json()["id"])


def _run_scan(
    client: httpx.Client,
    report_dir: Path,
    on_progress: Callable[[str, float], None],
    title: str,
    target_id: int,
    probes: str,
    strategies: str,
    judge_id: int | None,
    profile: str,
    stamp: int,
) -> DemoScan:
    body = {
        "target_id": target_id,
        "probes": probes,
        "strategies": strategies,
        "profile": profile,
        "name": f"demo {title} {stamp}",
        "judge_target_id": judge_id,
    }
    started = client.post("/scans", json=body)
    started.raise_for_status()
    scan_id = started.json()["id"]
    while True:
        scan = client.get(f"/scans/{scan_id}").json()
        on_progress(title, scan.get("progress") or 0.0)
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
    return DemoScan(title, scan, findings, reports)


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
