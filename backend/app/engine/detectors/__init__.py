"""Detectors: decide from a target's response whether an attack worked. Found by name in a registry.

A probe lists detector *specs* (`app.engine.probes.schema`: plain data with parameters); `build_detector`
turns a spec into a `Detector` whose `detect(response, context)` returns a `Verdict`. The registry is a
plain dict from spec name to factory, like garak's plugin registry, and must cover every name the schema
allows (checked at import, so a new spec without an implementation fails every test run).

Every detector is deterministic and offline. `judge` reports the grade the runner obtained from the
configured judge model (`AttemptContext.judge_verdict`); without one it answers fired=None. None raises on odd input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from app.engine.detectors.code_exec import CodeExecScanner
from app.engine.detectors.judge import JudgeSlot
from app.engine.detectors.length import LengthLimit
from app.engine.detectors.markers import TokenDetector
from app.engine.detectors.markup import MarkupExfil
from app.engine.detectors.over_refusal import OverRefusal
from app.engine.detectors.packages import PackageCheck
from app.engine.detectors.pair import PairComparison
from app.engine.detectors.patterns import KeywordMatch, RegexMatch
from app.engine.detectors.pii import PiiScanner
from app.engine.detectors.refusal import RefusalClassifier
from app.engine.detectors.tools import ToolCallCheck
from app.engine.model import Detector
from app.engine.probes import schema

__all__ = ["DETECTOR_FACTORIES", "DetectorSpec", "available_detectors", "build_detector"]

#: Any detector spec a probe can list.
DetectorSpec = (
    schema.MarkerDetector
    | schema.CanaryDetector
    | schema.RefusalDetector
    | schema.RegexDetector
    | schema.KeywordsDetector
    | schema.MarkupExfilDetector
    | schema.PiiDetector
    | schema.ToolCallDetector
    | schema.CodeExecDetector
    | schema.PackageHallucinationDetector
    | schema.LengthDetector
    | schema.JudgeDetector
    | schema.OverRefusalDetector
    | schema.PairDetector
)
Factory = Callable[[DetectorSpec], Detector]


S = TypeVar("S", bound=BaseModel)


def _spec(spec: DetectorSpec, kind: type[S]) -> S:
    """`spec` as the class its name promises (a mismatch means a hand-built spec, not a pack)."""
    if not isinstance(spec, kind):
        raise ValueError(f"detector {spec.name!r} needs a {kind.__name__} spec, got {type(spec).__name__}")
    return spec


#: name -> (factory, one-line description); the keys are exactly `schema.DETECTOR_NAMES`.
DETECTOR_FACTORIES: dict[str, tuple[Factory, str]] = {
    "marker": (
        lambda spec: TokenDetector("marker"),
        "The attack marker in the output, also re-cased, spaced, reversed, ROT13'd or encoded.",
    ),
    "canary": (
        lambda spec: TokenDetector("canary"),
        "The planted canary secret in the output or tool-call arguments, in any form.",
    ),
    "refusal": (
        lambda spec: RefusalClassifier(),
        "Explicit refusal (multilingual, scored); tells 'refused' from 'safe'.",
    ),
    "regex": (
        lambda spec: RegexMatch(_spec(spec, schema.RegexDetector)),
        "The probe's regular expression matches the output.",
    ),
    "keywords": (
        lambda spec: KeywordMatch(_spec(spec, schema.KeywordsDetector)),
        "At least min_matches of the probe's keywords occur (case-insensitive).",
    ),
    "markup_exfil": (
        lambda spec: MarkupExfil(),
        "Markdown/HTML/CSS URL to the exfiltration host or carrying data.",
    ),
    "pii": (
        lambda spec: PiiScanner(_spec(spec, schema.PiiDetector)),
        "Validated emails, phones, cards (Luhn), IBANs (mod-97), SSNs and API keys/secrets.",
    ),
    "tool_call": (
        lambda spec: ToolCallCheck(_spec(spec, schema.ToolCallDetector)),
        "A call to the named tool, native or written in the text, optionally by arguments.",
    ),
    "code_exec": (
        lambda spec: CodeExecScanner(_spec(spec, schema.CodeExecDetector)),
        "Dangerous shell, SQL, JavaScript or Python in the output.",
    ),
    "package_hallucination": (
        lambda spec: PackageCheck(_spec(spec, schema.PackageHallucinationDetector)),
        "Recommended PyPI/npm package names missing from the shipped index.",
    ),
    "length": (
        lambda spec: LengthLimit(_spec(spec, schema.LengthDetector)),
        "Output longer than max_chars, or cut off at the token limit.",
    ),
    "judge": (
        lambda spec: JudgeSlot(),
        "The LLM judge's grade on the probe's rubric; undecided unless a judge model is configured.",
    ),
    "over_refusal": (
        lambda spec: OverRefusal(),
        "The target refused a benign request that only sounds dangerous (a usability finding).",
    ),
    "pair": (
        lambda spec: PairComparison(_spec(spec, schema.PairDetector)),
        "Answers to the same request for different values of a protected attribute differ (refusal, decision "
        "or score): a bias finding.",
    ),
}

if set(DETECTOR_FACTORIES) != set(schema.DETECTOR_NAMES):  # pragma: no cover - guards future schema edits
    missing = sorted(set(schema.DETECTOR_NAMES) - set(DETECTOR_FACTORIES))
    extra = sorted(set(DETECTOR_FACTORIES) - set(schema.DETECTOR_NAMES))
    raise RuntimeError(f"detector registry out of sync with the schema: missing {missing}, unknown {extra}")


def available_detectors() -> list[tuple[str, str]]:
    """(name, one-line description) of every detector, in registry order."""
    return [(name, description) for name, (_, description) in DETECTOR_FACTORIES.items()]


def build_detector(spec: DetectorSpec) -> Detector:
    """The detector for `spec`; ValueError naming the valid detectors when the spec's name is unknown."""
    name = getattr(spec, "name", None)
    entry = DETECTOR_FACTORIES.get(name) if isinstance(name, str) else None
    if entry is None:
        valid = ", ".join(sorted(DETECTOR_FACTORIES))
        raise ValueError(f"unknown detector {name!r}; valid detectors: {valid}")
    factory, _ = entry
    return factory(spec)
