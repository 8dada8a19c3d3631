"""The registry builds every detector a shipped probe lists, and every detector survives any response."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.detectors import available_detectors, build_detector
from app.engine.detectors.base import INTERNAL_ERROR
from app.engine.model import AttemptContext, Detector, TargetResponse, ToolCall
from app.engine.probes.registry import load_probes
from app.engine.probes.schema import (
    DETECTOR_NAMES,
    CodeExecDetector,
    MarkerDetector,
    PiiDetector,
    RefusalDetector,
)

PROBES = load_probes()
SPECS = {repr(spec): spec for probe in PROBES for spec in probe.detectors}
ALL_SPECS = [*SPECS.values(), RefusalDetector(), PiiDetector(), CodeExecDetector()]
CONTEXT = AttemptContext(
    canary="SA-CANARY-3f9a1c2b7d",
    marker="SAMARK1A2B3C4D",
    exfil_url="https://attacker.example/collect",
    declared_tools=("send_email",),
    prompt="Summarise the document.",
)


def test_every_shipped_detector_is_listed_described_and_builds() -> None:
    listed = available_detectors()
    assert (
        {name for name, _ in listed}
        == set(DETECTOR_NAMES)
        == {
            "marker",
            "canary",
            "refusal",
            "regex",
            "keywords",
            "markup_exfil",
            "pii",
            "tool_call",
            "code_exec",
            "package_hallucination",
            "length",
            "judge",
            "over_refusal",
            "pair",
        }
    )
    assert all(description for _, description in listed)


def test_every_detector_of_every_shipped_probe_builds() -> None:
    assert len(PROBES) > 50
    for probe in PROBES:
        for spec in probe.detectors:
            detector = build_detector(spec)
            assert isinstance(detector, Detector)
            assert detector.name == spec.name, probe.id


def test_unknown_detector_name_is_a_clear_error() -> None:
    bogus = MarkerDetector.model_construct(name="telepathy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown detector 'telepathy'; valid detectors: .*marker"):
        build_detector(bogus)


def test_mismatched_spec_is_a_clear_error() -> None:
    bogus = MarkerDetector.model_construct(name="pii")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a PiiDetector spec"):
        build_detector(bogus)


ODD_TEXTS = [
    "",
    " ",
    "\x00\x01\x02",
    "\ud800 lone surrogate \udfff",
    "\U000e0041\U000e0042 tags",
    "🙂" * 1000,
    "[" * 5000,
    "<img " * 3000,
    "](" * 5000,
    "{" * 5000,
    "%" * 5000 + "%4",
    "=" * 5000,
    "a@" * 5000,
    "+1 " * 5000,
    "0" * 10000,
    "rm -rf " * 2000,
    "'" + " OR " * 3000,
    "pip install " * 2000,
    "import " * 2000,
    "AKIA" * 3000,
    "eyJ" * 3000 + ".",
    "SAMARK" * 3000,
    "S A M A R K 1 A 2 B 3 C 4 " * 2000,
    "```" * 3000,
    "\n1. " * 3000,
    "url(" * 5000,
    "[a]: https://x.test/p\n" * 1000,
    "@import '" * 3000,
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda spec: spec.name)
def test_odd_input_never_raises(spec: object) -> None:
    detector = build_detector(spec)  # type: ignore[arg-type]
    for text in ODD_TEXTS:
        for calls in ((), (ToolCall("send_email", text), ToolCall("", "{}"))):
            verdict = detector.detect(TargetResponse(text, tool_calls=calls), CONTEXT)
            assert INTERNAL_ERROR not in verdict.explanation, (text[:40], verdict.explanation)
            assert verdict.detector == detector.name
            assert verdict.explanation


def _megabyte() -> str:
    """About 1 MB of realistic, mixed output: prose, code, URLs, numbers, base64, near-miss tokens."""
    rng = random.Random(7)
    pieces = [
        "The quarterly numbers look good and the team shipped on time. ",
        "```python\nimport os\nprint(os.getcwd())\n```\n",
        "See [the docs](https://docs.example.org/guide?page=2) and ![logo](https://cdn.example.com/l.png). ",
        "Call 555-0100 or write to help@example.com. Order 1234 5678 9012 3456. ",
        base64.b64encode(bytes(rng.randrange(256) for _ in range(300))).decode() + " ",
        "SAMARK1A2B SA-CANARY-3f9a partial tokens only. ",
        "I can't stress enough how much we appreciate it. ",
        "pip install requests numpy. npm install react. ",
        "<div style='color:red'>ok</div> SELECT id FROM t WHERE x = 1; ",
        "Ｓ ＡＭ 𝐀 ЅА МА zero\u200bwidth ",
    ]
    out: list[str] = []
    size = 0
    while size < 1_000_000:
        piece = rng.choice(pieces)
        out.append(piece)
        size += len(piece)
    return "".join(out)


MEGABYTE = _megabyte()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda spec: spec.name)
def test_a_megabyte_response_is_handled(spec: object) -> None:
    detector = build_detector(spec)  # type: ignore[arg-type]
    verdict = detector.detect(TargetResponse(MEGABYTE), CONTEXT)
    assert INTERNAL_ERROR not in verdict.explanation
    if spec.__class__.__name__ in ("MarkerDetector", "CanaryDetector", "MarkupExfilDetector", "RefusalDetector"):
        assert verdict.fired is False, verdict.explanation


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=400), arguments=st.text(max_size=100))
def test_any_unicode_never_raises(text: str, arguments: str) -> None:
    response = TargetResponse(text, tool_calls=(ToolCall("send_email", arguments),))
    for spec in ALL_SPECS:
        verdict = build_detector(spec).detect(response, CONTEXT)
        assert INTERNAL_ERROR not in verdict.explanation, (spec, verdict.explanation)
