"""The engine's result sink backed by the `attempts` table: every finished attempt is committed at once.

This is what makes a platform scan resumable: after a crash the worker asks `completed_keys()` and the runner
sends only the rest. The unique (scan_id, key) constraint makes a double write impossible rather than unlikely.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.enums import AttemptOutcome
from app.db.models import AttackStep, Attempt, Scan, utcnow
from app.engine.model import AttemptRecord
from app.engine.sinks import record_from_json, record_to_json

#: What re-scoring needs besides the text, kept in the row's `extra` JSON under this prefix (no column of its own).
RESCORE_PREFIX = "rescore:"
RESCORE_FIELDS = ("finish_reason", "completion_tokens", "tool_calls", "context")
#: How often the scan row's progress and heartbeat are refreshed while attempts come in.
PROGRESS_EVERY_S = 1.0


def attempt_row(scan_id: int, record: AttemptRecord) -> Attempt:
    """The row for one finished attempt (the same fields as a line of the CLI's JSONL log)."""
    data = record_to_json(record)
    return Attempt(
        scan_id=scan_id,
        key=record.key,
        probe_id=record.probe_id,
        prompt_index=record.prompt_index,
        strategies="+".join(record.strategies) or "none",
        repeat=record.repeat,
        outcome=AttemptOutcome(record.outcome.value),
        turns=list(record.turns),
        response=record.response,
        verdicts=data["verdicts"],
        error=record.error,
        latency_ms=record.latency_ms,
        requests_made=record.attempts_made,
        extra={**record.extra, **{f"{RESCORE_PREFIX}{name}": data[name] for name in RESCORE_FIELDS if data[name]}},
    )


def record_of(row: Attempt) -> AttemptRecord:
    """The engine's record for a stored attempt (for scoring and reports)."""
    data: dict[str, Any] = {
        "key": row.key,
        "probe_id": row.probe_id,
        "prompt_index": row.prompt_index,
        "strategies": [] if row.strategies == "none" else row.strategies.split("+"),
        "repeat": row.repeat,
        "outcome": row.outcome.value,
        "turns": row.turns,
        "response": row.response,
        "verdicts": row.verdicts,
        "error": row.error,
        "latency_ms": row.latency_ms,
        "attempts_made": row.requests_made,
        "extra": {name: value for name, value in row.extra.items() if not name.startswith(RESCORE_PREFIX)},
        **{name: row.extra.get(f"{RESCORE_PREFIX}{name}") for name in RESCORE_FIELDS},
    }
    return record_from_json(data)


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
