"""Claims on scan rows (who runs a scan when many workers share a queue) and the reaper's list, on SQLite and
PostgreSQL, including two workers racing for one scan."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import migrate
from app.db.enums import ScannerType, ScanStatus
from app.db.models import Scan, User, utcnow
from app.jobs.ownership import claim, needing_a_worker

STALE_S = 60.0


def _scans(sessions: sessionmaker[Session], specs: list[dict[str, object]]) -> list[int]:
    with sessions() as session, session.begin():
        user = User(username="owner", email="owner@example.org", hashed_password="x")
        session.add(user)
        session.flush()
        from app.crud.targets import create_target

        target = create_target(session, name="t", settings={"type": "openai", "model": "m", "base_url": "http://x/v1"})
        rows = []
        for spec in specs:
            fields: dict[str, object] = {"attempts_planned": 10, **spec}
            row = Scan(
                name="s",
                model_name="m",
                model_type="openai",
                scanner_type=ScannerType.BUILTIN,
                created_by=user.id,
                target_id=target.id,
                **fields,
            )
            session.add(row)
            rows.append(row)
        session.flush()
        return [row.id for row in rows]


def test_a_claim_goes_to_one_worker_until_its_heartbeat_stops(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    old = utcnow() - timedelta(seconds=STALE_S * 2)
    pending, fresh, orphaned, done, legacy = _scans(
        sessions,
        [
            {"status": ScanStatus.PENDING},
            {"status": ScanStatus.RUNNING, "heartbeat_at": utcnow()},
            {"status": ScanStatus.RUNNING, "heartbeat_at": old},
            {"status": ScanStatus.COMPLETED},
            {"status": ScanStatus.PENDING, "attempts_planned": None},  # left by the legacy deployment
        ],
    )
    with sessions() as session, session.begin():
        assert claim(session, pending, STALE_S)
        assert not claim(session, pending, STALE_S)  # now running with a fresh heartbeat: someone has it
        assert not claim(session, fresh, STALE_S)
        assert claim(session, orphaned, STALE_S)  # its worker stopped beating: taken over
        assert not claim(session, done, STALE_S) and not claim(session, legacy, STALE_S)
    with sessions() as session:
        assert session.get_one(Scan, pending).status is ScanStatus.RUNNING
        assert session.get_one(Scan, legacy).status is ScanStatus.PENDING
    engine.dispose()


def test_of_workers_racing_for_a_scan_exactly_one_wins(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    (scan_id,) = _scans(sessions, [{"status": ScanStatus.PENDING}])
    wins: list[bool] = []
    start = threading.Barrier(6)

    def race() -> None:
        start.wait()
        with sessions() as session, session.begin():
            wins.append(claim(session, scan_id, STALE_S))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 5 + [True]
    engine.dispose()


def test_the_reaper_lists_orphaned_and_forgotten_scans_once_per_period(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    old = utcnow() - timedelta(seconds=STALE_S * 2)
    orphaned, forgotten, _recent, _alive, _legacy = _scans(
        sessions,
        [
            {"status": ScanStatus.RUNNING, "heartbeat_at": old},
            {"status": ScanStatus.PENDING, "created_at": old},
            {"status": ScanStatus.PENDING},  # just queued: its message is on its way
            {"status": ScanStatus.RUNNING, "heartbeat_at": utcnow()},
            {"status": ScanStatus.RUNNING, "heartbeat_at": old, "attempts_planned": None},
        ],
    )
    with sessions() as session, session.begin():
        assert needing_a_worker(session, STALE_S) == [orphaned, forgotten]
    with sessions() as session, session.begin():
        assert needing_a_worker(session, STALE_S) == [orphaned]  # the forgotten one was queued again just now
    later = utcnow() + timedelta(seconds=STALE_S * 2)
    with sessions() as session, session.begin():
        assert set(needing_a_worker(session, STALE_S, now=later)) >= {orphaned, forgotten}
    engine.dispose()
