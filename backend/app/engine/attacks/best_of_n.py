"""`best_of_n`: random augmentations of the probe's prompt, sampled until one works (Hughes et al., "Best-of-N
Jailbreaking"). Needs no attacker model.

Each sample scrambles the middle letters of some longer words, flips the case of some letters and nudges a
few characters to a neighbouring code point; the attempt's marker, exfiltration URL and template values are
left intact, since the target must reproduce them exactly for the detectors to see success. Samples are drawn
from the attempt's seed (`SeededChoice`), so sample k is the same text in every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.engine.attacks.base import AdaptiveStrategy, AttackResult, AttackRun, Param, Try, better
from app.engine.strategies.base import SeededChoice

SCRAMBLE = 0.6  # share of words of 4+ letters whose middle letters are shuffled
FLIP_CASE = 0.6  # share of letters whose case is flipped
NOISE = 0.06  # share of printable characters moved by one code point
_WORD = re.compile(r"[A-Za-z]{4,}")


def _chance(rng: SeededChoice, share: float) -> bool:
    return rng.below(1000) < share * 1000


def _protected(text: str, keep: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = []
    for value in keep:
        if value:
            start = text.find(value)
            while start >= 0:
                spans.append((start, start + len(value)))
                start = text.find(value, start + 1)
    return spans


def augment(text: str, rng: SeededChoice, keep: tuple[str, ...] = ()) -> str:
    """One random augmentation of `text`; characters inside any of `keep` are left as they are."""
    guarded = _protected(text, keep)

    def free(index: int) -> bool:
        return not any(start <= index < end for start, end in guarded)

    chars = list(text)
    for match in _WORD.finditer(text):
        start, end = match.span()
        if all(free(index) for index in range(start, end)) and _chance(rng, SCRAMBLE):
            middle = rng.shuffled(chars[start + 1 : end - 1])
            chars[start + 1 : end - 1] = middle
    for index, char in enumerate(chars):
        if not free(index):
            continue
        if char.isalpha() and _chance(rng, FLIP_CASE):
            chars[index] = char.swapcase()
        elif 33 <= ord(char) <= 125 and char.isalnum() and _chance(rng, NOISE):
            chars[index] = chr(ord(char) + (1 if rng.below(2) else -1))
    return "".join(chars)


class BestOfN(AdaptiveStrategy):
    name = "best_of_n"
    description = "Adaptive: random case, scramble and character-noise variants of the prompt until one works."
    needs_attacker = False
    params: Mapping[str, Param] = {"samples": Param(10, 1, 500, "augmented variants sent at most")}

    async def run(self, attack: AttackRun) -> AttackResult:
        keep = (attack.base.marker, attack.base.exfil_url)
        best: Try | None = None
        samples = attack.params["samples"]
        for sample in range(1, samples + 1):
            prompt = augment(attack.seed_prompt, SeededChoice(attack.seed, f"best_of_n|{sample}"), keep)
            attempt = await attack.try_conversation(f"n{sample}", [], prompt)
            best = better(best, attempt)
            if attempt.success:
                return attack.result(attempt, sample)
        return attack.result(best, samples)

    def worst_case(self, params: Mapping[str, int], judged: bool) -> dict[str, int]:
        samples = params["samples"]
        return {"target": samples, "attacker": 0, "judge": samples if judged else 0}
