"""What every detector shares: the never-raise wrapper and small helpers for verdict text.

A detector runs on whatever a target sent back (empty text, megabytes, lone surrogates, binary noise). One
crashing detector must not lose a whole attempt, so `BaseDetector.detect` turns an unexpected exception into
an undecided verdict that says what broke; the tests check that this fallback is never actually reached.
"""

from __future__ import annotations

import abc
import re

from app.engine.model import AttemptContext, TargetResponse, Verdict

__all__ = ["INTERNAL_ERROR", "BaseDetector", "clip"]

#: Prefix of the explanation when a detector hit a bug; tests assert it never appears.
INTERNAL_ERROR = "internal detector error"


def clip(text: str, limit: int = 200) -> str:
    """`text` shortened for evidence fields, so one verdict never carries a megabyte of output."""
    if len(text) <= limit:
        return text
    keep = max(limit - 1, 1)
    return text[:keep] + "\u2026"


class BaseDetector(abc.ABC):
    """Implements the `Detector` protocol; subclasses write `_detect` and may assume nothing about the text."""

    name: str

    def detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        """Judge `response`; an unexpected error becomes fired=None instead of aborting the attempt."""
        try:
            return self._detect(response, context)
        except Exception as error:  # a detector bug must not cost the scan an attempt
            return Verdict(self.name, None, explanation=f"{INTERNAL_ERROR}: {type(error).__name__}: {error}")

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
