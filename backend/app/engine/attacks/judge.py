"""Asking the configured judge model to grade one response, as a detector verdict."""

from __future__ import annotations

from app.engine.attacks.protocol import Grade, grade_message, parse_grade
from app.engine.attacks.session import RoleReplyError, Roles, StepLog
from app.engine.detectors.base import clip
from app.engine.model import Verdict

__all__ = ["JUDGE_VERSION", "grade_response", "grade_verdict"]

#: The judge protocol's version, recorded with each of its verdicts.
JUDGE_VERSION = "judge@3"


def grade_verdict(grade: Grade, rubric: str) -> Verdict:
    """The `judge` verdict for a parsed grade: fired when the condition is met, score = grade / 10."""
    outcome = "condition met" if grade.met else "condition not met"
    return Verdict(
        "judge",
        grade.met,
        score=round(grade.score / 10, 2),
        evidence=clip(grade.reason) if grade.reason else None,
        explanation=f"judge: {outcome} (score {grade.score}/10) for rubric {clip(rubric, 120)!r}"
        + (f": {clip(grade.reason, 200)}" if grade.reason else ""),
        version=JUDGE_VERSION,
    )


async def grade_response(
    roles: Roles, log: StepLog, step_id: str, rubric: str, prompt: str, text: str
) -> Verdict | None:
    """The judge's verdict on `text` (None when no judge is configured; fired=None when the judge failed)."""
    if roles.judge is None:
        return None
    try:
        grade = await roles.ask_json(log, step_id, "judge", grade_message(rubric, prompt, text), "grade", parse_grade)
    except RoleReplyError as error:
        return Verdict("judge", None, explanation=f"judge error: {clip(str(error), 200)}", version=JUDGE_VERSION)
    return grade_verdict(grade, rubric)
