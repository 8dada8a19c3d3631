"""What every detector shares: the never-raise wrapper and small helpers for verdict text.

A detector runs on whatever a target sent back (empty text, megabytes, lone surrogates, binary noise). One
crashing detector must not lose a whole attempt, so `BaseDetector.detect` turns an unexpected exception into
an undecided verdict that says what broke; the tests check that this fallback is never actually reached.
"""

from __future__ import annotations

import abc
import re
from dataclasses import replace

from app.engine.detectors.echo import AttackText, EchoFinder, EchoHit
from app.engine.model import AttemptContext, TargetResponse, Verdict

__all__ = ["INTERNAL_ERROR", "BaseDetector", "clip"]

#: Prefix of the explanation when a detector hit a bug; tests assert it never appears.
INTERNAL_ERROR = "internal detector error"
#: Most echoes masked in one response before the detector's verdict stands as it is.
MAX_ECHOES = 64


def clip(text: str, limit: int = 200) -> str:
    """`text` shortened for evidence fields, so one verdict never carries a megabyte of output."""
    if len(text) <= limit:
        return text
    keep = max(limit - 1, 1)
    return text[:keep] + "\u2026"


class BaseDetector(abc.ABC):
    """Implements the `Detector` protocol; subclasses write `_detect` and may assume nothing about the text.

    `version` names the detector's current logic (bumped when its verdicts can change), and every verdict
    carries it. Detectors that match text are echo-aware (`echo_aware`): a hit inside a copy of the attacker's
    own text (`app.engine.detectors.echo`) is masked out and the response judged again, so the verdict rests
    only on what the target produced itself; the verdict says when and why evidence was discounted.
    """

    name: str
    version: int = 2
    echo_aware: bool = True

    def detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        """Judge `response`; an unexpected error becomes fired=None instead of aborting the attempt."""
        try:
            verdict = self._detect(response, context)
            if verdict.fired and verdict.span and self.echo_aware and not context.echo_is_goal:
                verdict = self._without_echoes(response, context, verdict)
        except Exception as error:  # a detector bug must not cost the scan an attempt
            verdict = Verdict(self.name, None, explanation=f"{INTERNAL_ERROR}: {type(error).__name__}: {error}")
        return replace(verdict, version=f"{self.name}@{self.version}")

    def _without_echoes(self, response: TargetResponse, context: AttemptContext, verdict: Verdict) -> Verdict:
        """Mask each echo that holds the evidence and judge again, until the evidence is the target's own."""
        sources = context.attack_texts or ((context.prompt,) if context.prompt else ())
        if not sources:
            return verdict
        text = response.text
        attack = AttackText(sources)
        echoes: list[EchoHit] = []
        while verdict.fired and verdict.span and len(echoes) < MAX_ECHOES:
            hit = EchoFinder(text, attack).around(verdict.span)
            if hit is None:
                break
            echoes.append(hit)
            text = text[: hit.start] + " " * hit.length + text[hit.end :]
            verdict = self._detect(replace(response, text=text), context)
        if not echoes:
            return verdict
        copied = ", ".join(f"{hit.length} characters at {hit.start}" for hit in echoes)
        note = f"discounted {len(echoes)} copy(ies) of the attack prompt ({copied}): the target repeated its input"
        if verdict.fired:
            return replace(verdict, explanation=f"{verdict.explanation}; {note}")
        first = echoes[0]
        return Verdict(
            self.name,
            False,
            evidence=clip(response.text[first.start : first.end]),
            explanation=f"the only evidence was inside a copy of the attack prompt; {note}",
        )

    @abc.abstractmethod
    def _detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        """The detector's logic proper."""

    def _nothing(self, explanation: str) -> Verdict:
        """The 'looked and found nothing' verdict."""
        return Verdict(self.name, False, explanation=explanation)

    def _matched(self, match: re.Match[str], explanation: str) -> Verdict:
        """The 'attack worked' verdict for a regex match: its span and (clipped) text are the evidence."""
        return Verdict(
            self.name, True, score=1.0, span=match.span(), evidence=clip(match.group()), explanation=explanation
        )

    def _undecided(self, explanation: str) -> Verdict:
        """The 'cannot decide' verdict (missing input, no judge)."""
        return Verdict(self.name, None, explanation=explanation)
