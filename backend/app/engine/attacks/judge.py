"""Asking the configured judge model to grade one response, as a detector verdict."""

from __future__ import annotations

from collections.abc import Sequence

from app.engine.attacks.protocol import Grade, grade_message, parse_grade
from app.engine.attacks.session import RoleReplyError, Roles, StepLog
from app.engine.detectors.base import clip
from app.engine.model import Message, TargetResponse, Verdict

__all__ = ["JUDGE_VERSION", "NOTHING_TO_GRADE", "attack_transcript", "grade_response", "grade_verdict"]

#: The judge protocol's version, recorded with each of its verdicts.
JUDGE_VERSION = "judge@3"


def attack_transcript(conversation: Sequence[Message]) -> str:
    """What the judge sees as the attack: the one user turn, or the whole conversation (one `[role] content`
    line per turn) when there were several."""
    users = [message for message in conversation if message.role == "user"]
    if len(users) == 1:
        return users[0].content
    return "\n".join(f"[{message.role}] {message.content}" for message in conversation)


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


#: The explanation of a judge verdict when the answer held nothing to grade (the judge is not asked).
NOTHING_TO_GRADE = "judge not asked: the answer has no letters, digits or tool calls to grade"


async def grade_response(
    roles: Roles, log: StepLog, step_id: str, rubric: str, prompt: str, response: TargetResponse
) -> Verdict | None:
    """The judge's verdict on `response` (None when no judge is configured; fired=None when the judge failed
    or there was nothing to grade)."""
    if roles.judge is None:
        return None
    if not response.tool_calls and not any(char.isalnum() for char in response.text):
        return Verdict("judge", None, explanation=NOTHING_TO_GRADE, version=JUDGE_VERSION)
    text = response.text
    if response.tool_calls:
        calls = "\n".join(f"[tool call] {call.name}({call.arguments})" for call in response.tool_calls)
        text = f"{text}\n{calls}".strip()
    try:
        grade = await roles.ask_json(log, step_id, "judge", grade_message(rubric, prompt, text), "grade", parse_grade)
    except RoleReplyError as error:
        return Verdict("judge", None, explanation=f"judge error: {clip(str(error), 200)}", version=JUDGE_VERSION)
    return grade_verdict(grade, rubric)
