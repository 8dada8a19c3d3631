"""`secureai db prune` in-process (CliRunner) on SQLite and PostgreSQL: the retention setting deletes old ended
scans with their rows, keeps running and recent ones, audits each deletion and leaves the chain intact."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from app.audit.verify import verify_chain
from app.cli.db import app
from app.config import get_settings
from app.db.enums import ScanStatus, Severity
from app.db.migrate import upgrade
from app.db.models import Attempt, AuditLog, Scan, User, Vulnerability, utcnow
from app.db.session import make_engine
from tests.conftest import _clear_caches


def run(*args: str) -> Result:
    get_settings.cache_clear()  # settings come from the environment, which the test set
    return CliRunner().invoke(app, ["prune", *args])


def _scans(url: str) -> dict[int, Scan]:
    with Session(make_engine(url)) as session:
        return {scan.id: scan for scan in session.scalars(select(Scan))}


def test_prune_deletes_old_ended_scans_and_audits_each(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SECUREAI_SCAN_RETENTION_DAYS", raising=False)
    now = utcnow()
    with Session(make_engine(database_url)) as session:
        user = User(username="ana", email="ana@example.org", hashed_password="x")
        session.add(user)
        session.flush()

        def scan(name: str, status: ScanStatus, days_ago: int) -> Scan:
            moment = now - timedelta(days=days_ago)
            row = Scan(name=name, model_name="m", model_type="openai", status=status, created_by=user.id)
            row.created_at = moment
            row.completed_at = moment if status is not ScanStatus.RUNNING else None
            session.add(row)
            session.flush()
            return row

        old = scan("old", ScanStatus.COMPLETED, 40)
        old_failed = scan("old failed", ScanStatus.FAILED, 31)
        recent = scan("recent", ScanStatus.COMPLETED, 5)
        running = scan("running", ScanStatus.RUNNING, 40)
        session.add(Vulnerability(scan_id=old.id, title="leak", severity=Severity.HIGH))
        session.add(
            Attempt(
                scan_id=old.id,
                key="k",
                probe_id="p",
                prompt_index=0,
                strategies="none",
                repeat=0,
                outcome="vulnerable",
                turns=["hi"],
            )
        )
        session.commit()
        ids = {"old": old.id, "old_failed": old_failed.id, "recent": recent.id, "running": running.id}

    unset = run()
    assert unset.exit_code == 2 and "SECUREAI_SCAN_RETENTION_DAYS" in unset.stderr and "Traceback" not in unset.output

    dry = run("--older-than", "30", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {
        "older_than_days": 30,
        "dry_run": True,
        "scan_ids": [ids["old"], ids["old_failed"]],
        "scans": 2,
        "attempts": 1,
        "findings": 1,
    }
    assert len(_scans(database_url)) == 4  # a dry run deletes nothing

    monkeypatch.setenv("SECUREAI_SCAN_RETENTION_DAYS", "30")
    done = run()
    assert done.exit_code == 0, done.output
    assert "deleted 2 scan(s) ended more than 30 day(s) ago (1 attempts, 1 findings)" in done.stdout
    assert set(_scans(database_url)) == {ids["recent"], ids["running"]}
    with Session(make_engine(database_url)) as session:
        assert session.scalar(select(func.count()).select_from(Vulnerability)) == 0
        assert session.scalar(select(func.count()).select_from(Attempt)) == 0
        records = list(session.scalars(select(AuditLog).where(AuditLog.action == "scan_delete")))
        assert sorted(r.resource_id or 0 for r in records) == [ids["old"], ids["old_failed"]]
        assert {r.details["reason"] for r in records if r.details} == {"retention (30 days)"}
        assert verify_chain(session).ok
    assert json.loads(run("--json").stdout)["scan_ids"] == []  # nothing left to prune
    _clear_caches()
