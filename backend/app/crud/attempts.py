"""Stored attempts as the engine sees them, and the fingerprint that follows a weakness across scans.

`attempt_row` and `record_of` convert between an `attempts` row and the engine's `AttemptRecord` (the same fields
as a line of the CLI's JSONL log); the database sink, re-scoring and the report source all go through them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.db.enums import AttemptOutcome
from app.db.models import Attempt
from app.engine.model import AttemptRecord
from app.engine.sinks import record_from_json, record_to_json

#: What re-scoring needs besides the text, kept in the row's `extra` JSON under this prefix (no column of its own).
RESCORE_PREFIX = "rescore:"
RESCORE_FIELDS = ("finish_reason", "completion_tokens", "tool_calls", "context")


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


def fingerprint(target_id: int | None, probe_id: str) -> str:
    """The same weakness of the same target in two scans has one fingerprint (triage follows it)."""
    return hashlib.sha256(f"secureai-finding|{target_id}|{probe_id}".encode()).hexdigest()
