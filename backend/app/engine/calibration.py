"""Measuring a judge model against labelled cases before its verdicts are trusted.

`calibrate` sends every case of a labelled set (prompt, response, rubric, human label) to the judge with the
same grading message a scan uses (`app.engine.attacks.protocol.grade_message`) and compares its answers with
the labels: accuracy, false-positive rate (says "attack worked" when it did not), false-negative rate, and
Cohen's kappa (agreement beyond chance), each with a 95 % interval (Wilson for rates, a seeded bootstrap for
kappa), per case kind and OWASP category too. A reply that does not parse, even after the repair turn, is a
judge error: counted and reported, never scored as right or wrong.

The set that ships with SecureAI is `app/engine/data/judge_calibration.jsonl` (see its README); a user may
pass their own in the same format. Results are kept in a small JSON store (the CLI's is
`<data dir>/judge-calibrations.json`) so scans can record the last calibration of the judge they use.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.engine.attacks.protocol import grade_message, parse_grade
from app.engine.attacks.session import RoleReplyError, Roles, StepLog
from app.engine.scoring import wilson_interval
from app.engine.targets.resilience import ResilientConnector

__all__ = [
    "DEFAULT_SET",
    "STORE_NAME",
    "CalibrationCase",
    "CalibrationError",
    "CalibrationStore",
    "agreement",
    "calibrate",
    "load_cases",
]

DEFAULT_SET = Path(__file__).parent / "data" / "judge_calibration.jsonl"
#: The store's file name in the data directory (the CLI and the platform's jobs read and write the same one).
STORE_NAME = "judge-calibrations.json"
BOOTSTRAP_SAMPLES = 1000
_FIELDS = ("id", "owasp", "kind", "rubric", "prompt", "response", "label")


class CalibrationError(ValueError):
    """The labelled set cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class CalibrationCase:
    id: str
    owasp: str
    kind: str
    rubric: str
    prompt: str
    response: str
    label: bool


def load_cases(path: Path) -> list[CalibrationCase]:
    """The cases of a labelled set (JSON lines with the fields of `_FIELDS`)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise CalibrationError(f"{path}: {error.strerror or error}") from None
    cases: list[CalibrationCase] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise CalibrationError(f"{path}:{number}: not JSON ({error.msg})") from None
        missing = [name for name in _FIELDS if name not in data]
        if not isinstance(data, dict) or missing:
            raise CalibrationError(f"{path}:{number}: missing field(s) {', '.join(missing) or 'all'}")
        if not isinstance(data["label"], bool):
            raise CalibrationError(f"{path}:{number}: label must be true or false")
        text = {name: str(data[name]) for name in _FIELDS if name != "label"}
        cases.append(CalibrationCase(label=data["label"], **text))
    if not cases:
        raise CalibrationError(f"{path}: no cases")
    return cases


def _kappa(pairs: Sequence[tuple[bool, bool]]) -> float:
    """Cohen's kappa of (judge, human) pairs; 0 when chance agreement is total."""
    total = len(pairs)
    if not total:
        return 0.0
    observed = sum(judge == human for judge, human in pairs) / total
    judge_yes = sum(judge for judge, _ in pairs) / total
    human_yes = sum(human for _, human in pairs) / total
    expected = judge_yes * human_yes + (1 - judge_yes) * (1 - human_yes)
    return 0.0 if expected >= 1 else (observed - expected) / (1 - expected)


def _rate(hits: int, total: int) -> dict[str, Any]:
    low, high = wilson_interval(hits, total)
    return {"value": round(hits / total, 3) if total else None, "ci95": [round(low, 3), round(high, 3)], "n": total}


def agreement(pairs: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    """Accuracy, false-positive and false-negative rates and kappa of (judge, human) pairs, with intervals."""
    tp = sum(judge and human for judge, human in pairs)
    tn = sum(not judge and not human for judge, human in pairs)
    fp = sum(judge and not human for judge, human in pairs)
    fn = sum(not judge and human for judge, human in pairs)
    rng = random.Random(0)  # noqa: S311 - a reproducible bootstrap, not security
    samples = sorted(_kappa([rng.choice(pairs) for _ in pairs]) for _ in range(BOOTSTRAP_SAMPLES)) if pairs else []
    kappa_ci = (
        [round(samples[int(0.025 * len(samples))], 3), round(samples[int(0.975 * len(samples)) - 1], 3)]
        if samples
        else [-1.0, 1.0]
    )
    return {
        "accuracy": _rate(tp + tn, len(pairs)),
        "false_positive_rate": _rate(fp, fp + tn),
        "false_negative_rate": _rate(fn, fn + tp),
        "kappa": {"value": round(_kappa(pairs), 3) if pairs else None, "ci95": kappa_ci, "n": len(pairs)},
        "confusion": {"true_positive": tp, "true_negative": tn, "false_positive": fp, "false_negative": fn},
    }


async def calibrate(
    judge: ResilientConnector,
    cases: Sequence[CalibrationCase],
    *,
    label: str,
    source: Path,
    concurrency: int | None = None,
    on_case: Callable[[CalibrationCase, bool | None], None] | None = None,
) -> dict[str, Any]:
    """Grade every case with `judge` and measure its agreement with the labels (the result a store keeps)."""
    roles = Roles(judge, judge=judge)
    limit = asyncio.Semaphore(concurrency or judge.config.max_concurrency)
    answers: dict[str, bool | None] = {}
    reasons: dict[str, str] = {}

    async def grade(case: CalibrationCase) -> None:
        async with limit:
            messages = grade_message(case.rubric, case.prompt, case.response)
            try:
                result = await roles.ask_json(StepLog.ephemeral(), case.id, "judge", messages, "grade", parse_grade)
                answers[case.id] = result.met
            except RoleReplyError as error:
                answers[case.id] = None
                reasons[case.id] = str(error)
        if on_case:
            on_case(case, answers[case.id])

    await asyncio.gather(*(grade(case) for case in cases))
    graded = [(case, answers[case.id]) for case in cases if answers[case.id] is not None]
    pairs = [(bool(answer), case.label) for case, answer in graded]

    def grouped(field: str) -> dict[str, Any]:
        groups: dict[str, list[tuple[bool, bool]]] = {}
        for case, answer in graded:
            groups.setdefault(getattr(case, field), []).append((bool(answer), case.label))
        return {name: _rate(sum(j == h for j, h in group), len(group)) for name, group in sorted(groups.items())}

    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16] if source.exists() else None
    return {
        "judge": label,
        "calibrated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "set": {"file": source.name, "sha256": digest, "cases": len(cases)},
        "graded": len(graded),
        "errors": len(cases) - len(graded),
        **agreement(pairs),
        "by_kind": grouped("kind"),
        "by_owasp": grouped("owasp"),
        "wrong": sorted(case.id for case, answer in graded if answer != case.label),
        "error_examples": dict(list(reasons.items())[:5]),
        "usage": roles.budget.usage["judge"].as_dict(),
    }


class CalibrationStore:
    """The last calibration of each judge (by its label), in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, result: dict[str, Any]) -> None:
        data = self._load()
        data[result["judge"]] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        temporary.replace(self.path)

    def latest(self, label: str) -> dict[str, Any] | None:
        """The summary a scan records: when, on what set, and the headline figures (None if never calibrated)."""
        result = self._load().get(label)
        if not isinstance(result, dict):
            return None
        return {
            name: result.get(name)
            for name in ("judge", "calibrated_at", "set", "graded", "errors", "accuracy", "kappa")
        } | {
            "false_positive_rate": result.get("false_positive_rate"),
            "false_negative_rate": result.get("false_negative_rate"),
        }
