"""Where finished attempts go: the results sink interface, and the JSONL file the CLI uses.

The runner writes each attempt the moment it finishes (a checkpoint). A JSONL file is flushed after every
line, so `kill -9` loses at most the line being written; a torn last line is ignored when resuming.
The platform's database sink implements the same interface.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from app.engine.model import AttemptRecord, Outcome, ToolCall, Verdict

FORMAT = "secureai.attempts/v1"
#: Bytes read at a time from the end of a log to find where its last complete line ends (on resume).
TAIL_CHUNK = 64 * 1024


class ResultSink(Protocol):
    """Receives the scan header once and each finished attempt; knows which attempts are already done."""

    def completed_keys(self) -> set[str]: ...

    def write_header(self, header: dict[str, Any]) -> None: ...

    def write(self, record: AttemptRecord) -> None: ...

    def recorded_steps(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Steps of adaptive attacks already journaled: attempt key -> step id -> step."""
        ...

    def write_step(self, key: str, step_id: str, step: dict[str, Any]) -> None:
        """Journal one step of an adaptive attack the moment its reply arrives."""
        ...

    def close(self) -> None: ...


def record_to_json(record: AttemptRecord) -> dict[str, Any]:
    """One JSONL line's object. Built field by field: `dataclasses.asdict` deep-copies and cost a tenth of
    the scanner's CPU per attempt."""
    return {
        "type": "attempt",
        "key": record.key,
        "probe_id": record.probe_id,
        "prompt_index": record.prompt_index,
        "strategies": list(record.strategies),
        "repeat": record.repeat,
        "outcome": record.outcome.value,
        "turns": list(record.turns),
        "response": record.response,
        "verdicts": [
            {
                "detector": v.detector,
                "fired": v.fired,
                "score": v.score,
                "span": list(v.span) if v.span is not None else None,
                "evidence": v.evidence,
                "explanation": v.explanation,
                "version": v.version,
            }
            for v in record.verdicts
        ],
        "error": record.error,
        "latency_ms": record.latency_ms,
        "attempts_made": record.attempts_made,
        "extra": dict(record.extra),
        "finish_reason": record.finish_reason,
        "completion_tokens": record.completion_tokens,
        "tool_calls": [{"name": call.name, "arguments": call.arguments} for call in record.tool_calls],
        "context": dict(record.context),
    }


def record_from_json(data: dict[str, Any]) -> AttemptRecord:
    verdicts = tuple(
        Verdict(**{**v, "span": tuple(v["span"]) if v.get("span") else None}) for v in data.get("verdicts", ())
    )
    return AttemptRecord(
        key=data["key"],
        probe_id=data["probe_id"],
        prompt_index=data["prompt_index"],
        strategies=tuple(data["strategies"]),
        repeat=data["repeat"],
        outcome=Outcome(data["outcome"]),
        turns=tuple(data["turns"]),
        response=data.get("response"),
        verdicts=verdicts,
        error=data.get("error"),
        latency_ms=data.get("latency_ms"),
        attempts_made=data.get("attempts_made", 1),
        extra=data.get("extra") or {},
        finish_reason=data.get("finish_reason"),
        completion_tokens=data.get("completion_tokens"),
        tool_calls=tuple(
            ToolCall(str(call.get("name", "")), str(call.get("arguments", "{}")))
            for call in data.get("tool_calls") or ()
        ),
        context={str(k): str(v) for k, v in (data.get("context") or {}).items()},
    )


def read_steps(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The journaled steps of a results file (`step` lines): attempt key -> step id -> step."""
    steps: dict[str, dict[str, dict[str, Any]]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith('{"type": "step"'):
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            steps.setdefault(data["key"], {})[data["step"]] = data
    return steps


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Each complete line of a results file as JSON, in file order; a torn final line is skipped. One line is in
    memory at a time, so a log of a million attempts is read in constant memory."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed process


def read_header(path: Path) -> dict[str, Any] | None:
    """The `scan` header of a results file (its first line), without reading the attempts after it."""
    for data in iter_jsonl(path):
        return data if data.get("type") == "scan" else None
    return None


def iter_records(path: Path) -> Iterator[AttemptRecord]:
    """The attempt records of a results file, one at a time (scoring streams them: `score_records`)."""
    for data in iter_jsonl(path):
        if data.get("type") == "attempt":
            yield record_from_json(data)


def read_jsonl(path: Path) -> tuple[dict[str, Any] | None, list[AttemptRecord]]:
    """The header and all attempt records of a results file (in memory; prefer `iter_records` for big logs)."""
    header: dict[str, Any] | None = None
    records: list[AttemptRecord] = []
    for data in iter_jsonl(path):
        if data.get("type") == "scan":
            header = data
        elif data.get("type") == "attempt":
            records.append(record_from_json(data))
    return header, records


class JsonlSink:
    """Appends one JSON object per line: a `scan` header, then one `attempt` per finished attempt, and one `step`
    per exchange of an adaptive attack as it happens (before its attempt finishes)."""

    def __init__(self, path: Path, *, resume: bool) -> None:
        self.path = path
        self.header: dict[str, Any] | None = None
        self._done: set[str] = set()
        if resume and path.exists():
            # one pass over the log for the header and the finished keys, without building the records
            for data in iter_jsonl(path):
                if data.get("type") == "scan":
                    self.header = data
                elif data.get("type") == "attempt":
                    self._done.add(data["key"])
            self._truncate_torn_tail()
        elif path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def _truncate_torn_tail(self) -> None:
        """Drop a partial last line so the next record starts on a line of its own (reading only the tail)."""
        with self.path.open("rb+") as handle:
            end = handle.seek(0, os.SEEK_END)
            position = end
            while position > 0:
                start = max(0, position - TAIL_CHUNK)
                handle.seek(start)
                chunk = handle.read(position - start)
                if position == end and chunk.endswith(b"\n"):
                    return
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    handle.truncate(start + newline + 1)
                    return
                position = start
            handle.truncate(0)

    def completed_keys(self) -> set[str]:
        return set(self._done)

    def write_header(self, header: dict[str, Any]) -> None:
        if self.header is None:
            self.header = {"type": "scan", "format": FORMAT, **header}
            self._write(self.header)

    def write(self, record: AttemptRecord) -> None:
        self._write(record_to_json(record))
        self._done.add(record.key)

    def recorded_steps(self) -> dict[str, dict[str, dict[str, Any]]]:
        self._handle.flush()
        return read_steps(self.path)

    def write_step(self, key: str, step_id: str, step: dict[str, Any]) -> None:
        self._write({"type": "step", "key": key, "step": step_id, **step})

    def _write(self, data: dict[str, Any]) -> None:
        self._handle.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class MemorySink:
    """Keeps records and steps in memory: for driving the engine as a library (bench/adaptive.py runs the
    adaptive strategies in-process with it and reads each attempt's journal back)."""

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self.records: list[AttemptRecord] = []
        self.steps: dict[str, dict[str, dict[str, Any]]] = {}

    def completed_keys(self) -> set[str]:
        return {record.key for record in self.records}

    def write_header(self, header: dict[str, Any]) -> None:
        self.header = header

    def write(self, record: AttemptRecord) -> None:
        self.records.append(record)

    def recorded_steps(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {key: dict(steps) for key, steps in self.steps.items()}

    def write_step(self, key: str, step_id: str, step: dict[str, Any]) -> None:
        self.steps.setdefault(key, {})[step_id] = step

    def close(self) -> None:
        return None
