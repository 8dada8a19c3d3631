"""`secureai compliance trend` and `assess` on platform scans, on SQLite and PostgreSQL, through the real CLI."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session, sessionmaker

from app.crud.targets import create_target
from app.db import migrate
from app.db.enums import ScannerType, ScanStatus
from app.db.models import Scan, Target, User
from app.demo.simulator import running_simulator
from app.jobs.scan_job import run_scan
from tests.conftest import run_cli

OPTIONS = {"probes": "owasp:LLM07,owasp:LLM05", "strategies": "none", "repeat": 1, "concurrency": 4}


def _scan(sessions: sessionmaker[Session], target_id: int, url: str) -> int:
    """Point the target at `url` and run one scan of it to the end, as the worker would."""
    with sessions() as session, session.begin():
        session.execute(
            update(Target)
            .where(Target.id == target_id)
            .values(settings={"type": "openai", "model": "sim", "base_url": url})
        )
        scan = Scan(
            name="trend",
            model_name="sim",
            model_type="openai",
            scanner_type=ScannerType.BUILTIN,
            status=ScanStatus.PENDING,
            created_by=session.query(User).one().id,
            target_id=target_id,
            options=OPTIONS,
        )
        session.add(scan)
        session.flush()
        scan_id = scan.id
    assert asyncio.run(run_scan(sessions, scan_id)) is ScanStatus.COMPLETED
    return scan_id


def test_the_trend_shows_coverage_and_failures_scan_by_scan(database_url: str) -> None:
    migrate.upgrade(database_url)
    sessions = sessionmaker(create_engine(database_url))
    with sessions() as session, session.begin():
        session.add(User(username="owner", email="owner@example.org", hashed_password="x"))
        target_id = create_target(
            session, name="support-bot", settings={"type": "openai", "model": "sim", "base_url": "http://127.0.0.1:9"}
        ).id
    scans = []
    for mode in ("vulnerable", "refusing"):  # a fix between the scans: the second model refuses everything
        with running_simulator(mode) as (url, _):
            scans.append(_scan(sessions, target_id, url))
    env = {"DATABASE_URL": database_url}

    result = run_cli("secureai", "compliance", "trend", "support-bot", "--json", env=env)
    assert result.returncode == 0, result.stderr
    trend = json.loads(result.stdout)
    owasp = trend["owasp-llm-2025"]
    assert [point["scan_id"] for point in owasp] == scans
    first, second = owasp
    assert first["counts"]["non_compliant"] >= 2 and "non_compliant" not in second["counts"]  # fixed
    assert second["counts"]["compliant"] == first["counts"]["non_compliant"]
    assert first["coverage_pct"] == second["coverage_pct"] > 0
    assert set(trend) >= {"eu-ai-act", "mitre-atlas", "iso-42001-2023"}

    table = run_cli("secureai", "compliance", "trend", str(target_id), "-f", "owasp-llm-2025", env=env)
    assert table.returncode == 0 and "owasp-llm-2025: support-bot" in table.stdout
    assert f"{first['coverage_pct']}%" in table.stdout and "(+0.0)" in table.stdout  # no change in coverage
    header = next(line for line in table.stdout.splitlines() if "completed" in line)
    assert all(word in header for word in ("failed", "partial", "passed", "gaps"))  # whole words at 80 columns

    # the assessment of a stored scan, from its attempts, agrees with what the scan stored
    assessed = run_cli("secureai", "compliance", "assess", str(scans[0]), "-f", "owasp-llm-2025", "--json", env=env)
    assert assessed.returncode == 0, assessed.stderr
    statuses = {r["id"]: r["status"] for r in json.loads(assessed.stdout)[0]["requirements"]}
    assert statuses["LLM07"] == statuses["LLM05"] == "failed" and statuses["LLM10"] == "not_tested"
    assert sum(status == "failed" for status in statuses.values()) == first["counts"]["non_compliant"]

    unknown = run_cli("secureai", "compliance", "trend", "no-such-bot", env=env)
    assert unknown.returncode == 2 and "no target 'no-such-bot'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_trend_on_an_unmigrated_database_says_what_to_do(tmp_path: object) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    result = run_cli("secureai", "compliance", "trend", "x", env=env)
    assert result.returncode != 0 and "secureai db upgrade" in result.stderr and "Traceback" not in result.stderr
