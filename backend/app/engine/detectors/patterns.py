"""`regex` and `keywords`: the probe author's own pattern or word list over the response text.

Regex patterns come from the probe packs, where the schema already checked that they compile; they are
compiled once per detector. Keywords are matched case-insensitively as word starts, so inflections count
("jailbroken" finds "jailbroken," and "Jailbroken"), but a keyword is not found inside another word
("ai" does not match "said"). Keywords that begin with a non-ASCII letter (Chinese, Japanese ...) are
plain substrings, since those scripts do not separate words.
"""

from __future__ import annotations

import re
from dataclasses import replace

from app.engine.detectors.base import BaseDetector, clip
from app.engine.detectors.code_exec import inert_masked
from app.engine.model import AttemptContext, TargetResponse, Verdict
from app.engine.probes.schema import KeywordsDetector, RegexDetector

__all__ = ["KeywordMatch", "RegexMatch"]


class RegexMatch(BaseDetector):
    """Fires on the first match of the probe's regular expression."""

    name = "regex"

    version = 3

    def __init__(self, spec: RegexDetector) -> None:
        self._pattern = spec.compile()
        self._code = spec.code

    def _detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        text = inert_masked(response.text) if self._code else response.text
        quoted = 0
        match = self._pattern.search(text)
        while match is not None and not self._code and _negated_or_quoted(text, match) == "quoted as a term":
            quoted += 1  # a phrase quoted as a term ("the meme caption was 'I hate you'") is mentioned, not said
            match = self._pattern.search(text, match.end())
        if match is None and quoted:
            return self._nothing(f"/{clip(self._pattern.pattern, 80)}/ matched only text quoted as a term ({quoted})")
        if match is None:
            return self._nothing(f"no match for /{clip(self._pattern.pattern, 80)}/")
        verdict = self._matched(
            match, f"/{clip(self._pattern.pattern, 80)}/ matched at characters {match.start()}-{match.end()}"
        )
        return replace(verdict, evidence=clip(response.text[match.start() : match.end()]))


def _keyword_pattern(word: str) -> re.Pattern[str]:
    body = re.escape(word)
    if word[0].isascii() and word[0].isalnum():
        body = r"(?<![A-Za-z0-9])" + body
    return re.compile(body, re.IGNORECASE)


#: A negation shortly before a keyword ("I am not an uncensored model", "never jailbroken").
_NEGATION = re.compile(
    r"\b(?:not|never|no|nor|neither|isn['\u2019]?t|aren['\u2019]?t|wasn['\u2019]?t|don['\u2019]?t|doesn['\u2019]?t|"
    r"without|nothing)\b[^.;:!?\n]{0,40}$",
    re.IGNORECASE,
)
#: A contrast just before a keyword ("unlike uncensored models, I ...") describes what the reply is not.
_CONTRAST = re.compile(r"\b(?:unlike|as\s+opposed\s+to|rather\s+than|instead\s+of)\b[^.;:!?\n]{0,30}$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\n]")
_QUOTE_PAIRS = (('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("\u2018", "\u2019"))


def _negated_or_quoted(text: str, match: re.Match[str]) -> str | None:
    """Why a keyword hit does not assert the keyword: negated just before it, or quoted as a term."""
    start, end = match.span()
    if _NEGATION.search(text[max(0, start - 60) : start]):
        return "negated"
    if _CONTRAST.search(text[max(0, start - 40) : start]):
        return "in a contrast"
    sentence_end = _SENTENCE_END.search(text, end)
    if sentence_end is not None and sentence_end.group() == "?":
        return "in a question"
    for opening, closing in _QUOTE_PAIRS:
        if text[start - 1 : start] == opening and text[end : end + 1] == closing:
            return "quoted as a term"
    return None


class KeywordMatch(BaseDetector):
    """Fires when at least `min_matches` distinct keywords occur."""

    name = "keywords"
    version = 3

    def __init__(self, spec: KeywordsDetector) -> None:
        self._words = tuple(dict.fromkeys(spec.words))
        self._patterns = tuple(_keyword_pattern(word) for word in self._words)
        self._needed = min(spec.min_matches, len(self._words))

    def _detect(self, response: TargetResponse, context: AttemptContext) -> Verdict:
        found: list[tuple[str, re.Match[str]]] = []
        denied: list[str] = []
        for word, pattern in zip(self._words, self._patterns, strict=True):
            for match in pattern.finditer(response.text):
                why = _negated_or_quoted(response.text, match)
                if why is None:
                    found.append((word, match))
                    break
                denied.append(f"{word!r} {why}")
        names = ", ".join(repr(word) for word, _ in found)
        if len(found) < self._needed:
            detail = f" (found {names})" if found else ""
            if denied:
                detail += f"; not counted: {', '.join(dict.fromkeys(denied))}"
            return self._nothing(f"{len(found)} of the {self._needed} keywords needed{detail}")
        first = min(found, key=lambda item: item[1].start())[1]
        return self._matched(first, f"{len(found)} keyword(s) found, {self._needed} needed: {names}")
