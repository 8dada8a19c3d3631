"""`judge`: the LLM judge's grade of the response against the probe's rubric. Optional by design.

Scans must work offline and deterministically, so no detector talks to a network. When a judge model is
configured, the runner asks it (asynchronously, through `app.engine.attacks.judge.JudgeClient`, which fences
the untrusted response with a nonce and parses a strict JSON grade) and hands the resulting verdict to the
detectors in `AttemptContext.judge_verdict`; this detector reports it. Without a judge, or when the judge
failed or answered nothing parseable, the verdict is fired=None with the reason, never a guess.
`secureai rescore` passes the judge verdict recorded with the attempt, so re-scoring never calls the judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.engine.detectors.base import BaseDetector
from app.engine.model import AttemptContext, TargetResponse, Verdict

__all__ = ["MAX_GRADED_CHARS", "NO_JUDGE", "JudgeSlot", "first_json_object"]

#: Longest response (and attack prompt) passed to the judge; longer ones keep their head and tail.
MAX_GRADED_CHARS = 12_000
#: The explanation of a judge verdict when no judge model is configured.
NO_JUDGE = "no judge configured"


def first_json_object(text: str, accept: Callable[[dict[str, Any]], Any]) -> dict[str, Any] | None:
    """The first JSON object in `text` (code fences and prose around it allowed) that `accept` approves.

    Keys are lower-cased. Looks at no more than 50 opening braces, so hostile text cannot make it slow.
    """
    decoder = json.JSONDecoder()
    position = text.find("{")
    tries = 0
    while position >= 0 and tries < 50:
        tries += 1
        try:
            document, _ = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            position = text.find("{", position + 1)
            continue
        if isinstance(document, dict):
            lowered = {str(key).lower(): value for key, value in document.items()}
            if accept(lowered):
                return lowered
        position = text.find("{", position + 1)
    return None


class JudgeSlot(BaseDetector):
    """Reports the judge's verdict the runner obtained for this response; undecided without one."""

    name = "judge"
    version = 3
    echo_aware = False  # the judge reads the whole exchange itself

    def _detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        if context.judge_verdict is None:
            return self._undecided(NO_JUDGE)
        return context.judge_verdict
