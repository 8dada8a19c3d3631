"""A platform scan with an attacker and a judge run as a job, on SQLite and PostgreSQL: the journal of adaptive
steps (`attack_steps`) is replayed when the scan resumes, and a per-run budget that runs out ends the scan with
what it had and a message that says so."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import create_engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.crud.targets import create_target
from app.db import migrate
from app.db.enums import ScannerType, ScanStatus
from app.db.models import AttackStep, Attempt, Scan, User
from app.demo.simulator import running_roles as doubles
from app.jobs.scan_job import ScanOptions, plan_scan, run_scan

PROBE = "id:jb.roleplay.unrestricted_persona"
PREFLIGHT = "Reply with the word OK."


def _make_scan(sessions: sessionmaker[Session], urls: dict[str, Any], options: dict[str, Any]) -> int:
    with sessions() as session, session.begin():
        user = User(username="owner", email="owner@example.org", hashed_password="x")
        session.add(user)
        session.flush()
        ids = {
            role: create_target(
                session, name=role, settings={"type": "openai", "model": role, "base_url": urls[role][0]}
            ).id
            for role in ("target", "attacker", "judge")
        }
        full = {**options, "attacker_target_id": ids["attacker"], "judge_target_id": ids["judge"]}
        scan = Scan(
            name="adaptive",
            model_name="target",
            model_type="openai",
            scanner_type=ScannerType.BUILTIN,
            status=ScanStatus.PENDING,
            created_by=user.id,
            target_id=ids["target"],
            options=ScanOptions.from_json(full).as_json(),
        )
        session.add(scan)
        session.flush()
        return scan.id


def _counts(urls: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {role: dict(app.state.requests) for role, (_, app) in urls.items()}


def test_a_resumed_scan_replays_the_journaled_steps_of_an_unfinished_adaptive_attempt(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    options = {"probes": PROBE, "strategies": "none,pair", "concurrency": 2}
    with doubles() as urls:
        scan_id = _make_scan(sessions, urls, options)
        assert asyncio.run(run_scan(sessions, scan_id)) is ScanStatus.COMPLETED
        with sessions() as session, session.begin():
            row = session.scalars(
                select(Attempt).where(Attempt.scan_id == scan_id, Attempt.strategies == "pair").order_by(Attempt.key)
            ).first()
            assert row is not None and row.outcome.value == "vulnerable"
            key, first_response = row.key, row.response
            steps = session.scalar(select(func.count()).select_from(AttackStep).where(AttackStep.attempt_key == key))
            assert steps and steps >= 3  # attacker, target and judge steps, journaled as they happened
            # a worker died after the attack's steps were journaled but before its attempt row was written
            session.execute(delete(Attempt).where(Attempt.id == row.id))
            scan = session.get_one(Scan, scan_id)
            scan.status, scan.completed_at = ScanStatus.RUNNING, None
        before = _counts(urls)
        assert asyncio.run(run_scan(sessions, scan_id)) is ScanStatus.COMPLETED
        after = _counts(urls)
    # nothing was sent again: the only new request is the target's preflight
    for role in ("target", "attacker", "judge"):
        sent = {body: after[role][body] - before[role].get(body, 0) for body in after[role]}
        new = {body: count for body, count in sent.items() if count}
        assert new == ({body: 1 for body in new if PREFLIGHT in body} if role == "target" else {}), (role, new)
        assert len(new) == (1 if role == "target" else 0)
        repeated = [body for body, count in after[role].items() if count > 1 and PREFLIGHT not in body]
        assert not repeated, (role, repeated)
    with sessions() as session:
        again = session.scalars(select(Attempt).where(Attempt.scan_id == scan_id, Attempt.key == key)).one()
        keys = set(session.scalars(select(Attempt.key).where(Attempt.scan_id == scan_id)))
        scan = session.get_one(Scan, scan_id)
    assert again.outcome.value == "vulnerable" and again.response == first_response
    assert int(again.extra["adaptive.replayed_steps"]) == steps
    assert keys == {attempt.key for attempt in plan_scan(ScanOptions.from_json(options)).attempts}
    assert scan.results and scan.results["roles"]["usage"]["attacker"]["requests"] == 0  # replayed steps are free
    engine.dispose()


def test_a_budget_that_runs_out_ends_the_scan_with_what_it_had_and_says_so(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    options = {"probes": PROBE, "strategies": "pair", "concurrency": 1, "max_requests": {"target": 4}}
    with doubles() as urls:
        scan_id = _make_scan(sessions, urls, options)
        assert asyncio.run(run_scan(sessions, scan_id)) is ScanStatus.CANCELLED
        sent = sum(count for body, count in urls["target"][1].state.requests.items() if PREFLIGHT not in body)
    with sessions() as session:
        scan = session.get_one(Scan, scan_id)
        done = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.scan_id == scan_id)) or 0
    assert sent == 4
    assert scan.error_message == (
        f"stopped early: the scan's target request budget (4) is used up; {2 - done} attempt(s) not finished"
    )
    assert done < 2 and scan.completed_at is not None
    assert scan.results and scan.results["budget_exhausted"] == "the scan's target request budget (4) is used up"
    assert scan.results["roles"]["usage"]["target"]["requests"] == 4
    assert scan.results["roles"]["max_requests"] == {"target": 4}
    engine.dispose()
