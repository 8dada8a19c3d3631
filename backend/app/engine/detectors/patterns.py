"""`regex` and `keywords`: the probe author's own pattern or word list over the response text.

Regex patterns come from the probe packs, where the schema already checked that they compile; they are
compiled once per detector. Keywords are matched case-insensitively as word starts, so inflections count
("jailbroken" finds "jailbroken," and "Jailbroken"), but a keyword is not found inside another word
("ai" does not match "said"). Keywords that begin with a non-ASCII letter (Chinese, Japanese ...) are
plain substrings, since those scripts do not separate words.
"""

from __future__ import annotations

import re

from app.engine.detectors.base import BaseDetector, clip
from app.engine.model import AttemptContext, TargetResponse, Verdict
from app.engine.probes.schema import KeywordsDetector, RegexDetector

__all__ = ["KeywordMatch", "RegexMatch"]


class RegexMatch(BaseDetector):
    """Fires on the first match of the probe's regular expression."""

    name = "regex"

    def __init__(self, spec: RegexDetector) -> None:
        self._pattern = spec.compile()

    def _detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        match = self._pattern.search(response.text)
        if match is None:
            return self._nothing(f"no match for /{clip(self._pattern.pattern, 80)}/")
        return self._matched(
            match, f"/{clip(self._pattern.pattern, 80)}/ matched at characters {match.start()}-{match.end()}"
        )


def _keyword_pattern(word: str) -> re.Pattern[str]:
    body = re.escape(word)
    if word[0].isascii() and word[0].isalnum():
        body = r"(?<![A-Za-z0-9])" + body
    return re.compile(body, re.IGNORECASE)


class KeywordMatch(BaseDetector):
    """Fires when at least `min_matches` distinct keywords occur."""

    name = "keywords"

    def __init__(self, spec: KeywordsDetector) -> None:
        self._words = tuple(dict.fromkeys(spec.words))
        self._patterns = tuple(_keyword_pattern(word) for word in self._words)
        self._needed = min(spec.min_matches, len(self._words))

    def _detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        found: list[tuple[str, re.Match[str]]] = []
        for word, pattern in zip(self._words, self._patterns, strict=True):
            match = pattern.search(response.text)
            if match is not None:
                found.append((word, match))
        names = ", ".join(repr(word) for word, _ in found)
        if len(found) < self._needed:
            detail = f" (found {names})" if found else ""
            return self._nothing(f"{len(found)} of the {self._needed} keywords needed{detail}")
        first = min(found, key=lambda item: item[1].start())[1]
        return self._matched(first, f"{len(found)} keyword(s) found, {self._needed} needed: {names}")
