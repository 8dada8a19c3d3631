"""The engine's result sink backed by the `attempts` table: every finished attempt is committed at once.

This is what makes a platform scan resumable: after a crash the worker asks `completed_keys()` and the runner
sends only the rest. The unique (scan_id, key) constraint makes a double write impossible rather than unlikely.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.crud.attempts import attempt_row
from app.db.models import AttackStep, Attempt, Scan, utcnow
from app.engine.model import AttemptRecord

#: How often the scan row's progress and heartbeat are refreshed while attempts come in.
PROGRESS_EVERY_S = 1.0


class DatabaseSink:
    """Writes attempts of one scan, each in its own short transaction, and keeps the scan's progress fresh."""

    def __init__(self, sessions: sessionmaker[Session], scan_id: int, planned: int) -> None:
        self.sessions = sessions
        self.scan_id = scan_id
        self.planned = planned
        self._done = self._load_done()
        self._last_progress = 0.0

    def _load_done(self) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(Attempt.key).where(Attempt.scan_id == self.scan_id)))

    def completed_keys(self) -> set[str]:
        return set(self._done)

    def write_header(self, header: dict[str, Any]) -> None:
        """The scan row is the header of a platform scan; nothing to write."""

    def write(self, record: AttemptRecord) -> None:
        done = len(self._done) + 1
        with self.sessions() as session, session.begin():
            session.add(attempt_row(self.scan_id, record))
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_EVERY_S or done == self.planned:
                self._last_progress = now
                session.execute(
                    update(Scan)
                    .where(Scan.id == self.scan_id)
                    .values(progress=round(100.0 * done / max(self.planned, 1), 1), heartbeat_at=utcnow())
                )
        self._done.add(record.key)  # only once committed

    def recorded_steps(self) -> dict[str, dict[str, dict[str, Any]]]:
        steps: dict[str, dict[str, dict[str, Any]]] = {}
        with self.sessions() as session:
            rows = session.execute(
                select(AttackStep.attempt_key, AttackStep.step, AttackStep.data).where(
                    AttackStep.scan_id == self.scan_id
                )
            )
            for key, step, data in rows:
                steps.setdefault(key, {})[step] = data
        return steps

    def write_step(self, key: str, step_id: str, step: dict[str, Any]) -> None:
        """Each step in its own transaction, committed before the attack goes on (a kill loses none)."""
        with self.sessions() as session, session.begin():
            session.add(AttackStep(scan_id=self.scan_id, attempt_key=key, step=step_id, data=step))

    def close(self) -> None:
        """Nothing is buffered."""
