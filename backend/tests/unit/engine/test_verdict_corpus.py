"""The labelled verdict corpus (tests/fixtures/verdicts/*.jsonl): format, consistency with the probes, coverage.

The corpus is the ground truth detectors are measured against, so this test only checks that it is well formed
and covers what it must; it never runs a detector.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from app.engine.plan import PlannedAttempt, attempt_key
from app.engine.probes.registry import load_probes
from app.engine.probes.schema import Probe, template_variables
from app.engine.strategies import available_strategies

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "verdicts"
LABELS = {"vulnerable", "safe", "refused", "unscored"}
SOURCES = {"written", "gemma-transcript"}
FINISH = {"stop", "length", None}
REQUIRED = {
    "id": str,
    "probe_id": str,
    "prompt_index": int,
    "strategies": list,
    "context": dict,
    "turns": list,
    "earlier_replies": list,
    "response": str,
    "tool_calls": list,
    "label": str,
    "why": str,
    "tags": list,
    "source": str,
}

MIN_CASES = 400
#: Real Gemma 3 270M transcripts delivered with the corpus (tests/fixtures/verdicts/gemma.jsonl): the number
#: actually labelled, so losing any of them fails the test.
MIN_REAL = 456
MIN_PER_DETECTOR = 20
MIN_PER_OWASP = 10
#: Each named hard case of issue 12 needs enough examples to show a detector's behaviour on it.
MIN_PER_TAG = {
    "echo": 20,
    "fiction-refusal": 5,
    "comply-then-refuse": 8,
    "own-record-pii": 4,
    "other-customer-pii": 4,
    "exfil-no-data": 6,
    "exfil-with-data": 5,
    "empty": 6,
    "cap-limited": 12,
    "runaway": 6,
    "harmless-tool-call": 6,
    "encoded": 10,
}
CANARY_FORMS = ("cut-canary", "split-canary", "spaced-canary", "re-cased", "miscopied-canary", "masked-canary")


def _load() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                case = json.loads(line)
                case["_where"] = f"{path.name}:{number}"
                cases.append(case)
    return cases


CASES = _load()
PROBES: dict[str, Probe] = {probe.id: probe for probe in load_probes()}


def _where(case: dict[str, Any]) -> str:
    return f"{case['_where']} ({case.get('id')})"


def _detectors(probe: Probe) -> set[str]:
    return {detector.name for detector in probe.detectors}


def _template_vars(probe: Probe) -> set[str]:
    texts: list[str] = [*probe.context_documents, *(message for script in probe.attempts for message in script)]
    if probe.system_prompt:
        texts.append(probe.system_prompt)
    names: set[str] = set()
    for text in texts:
        names |= template_variables(text, frozenset(probe.slots))
    return names


def _detector_cases(name: str) -> list[dict[str, Any]]:
    """Cases that measure detector `name`: those of probes using it; for `refusal` (applied to every
    probe), the cases with an explicit, quoted or fictional refusal in them."""
    if name == "refusal":
        refusal_tags = {"fiction-refusal", "quoted-in-refusal", "comply-then-refuse", "polite-decline"}
        return [case for case in CASES if case["label"] == "refused" or refusal_tags & set(case["tags"])]
    return [case for case in CASES if name in _detectors(PROBES[case["probe_id"]])]


def test_the_corpus_has_enough_cases() -> None:
    assert len(CASES) >= MIN_CASES, f"{len(CASES)} cases, need {MIN_CASES}"


def test_real_transcripts_are_delivered() -> None:
    real = [case for case in CASES if case["source"] == "gemma-transcript"]
    assert len(real) >= MIN_REAL, f"{len(real)} real transcripts, the corpus promises {MIN_REAL}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: str(case.get("id")))
def test_case_format(case: dict[str, Any]) -> None:
    where = _where(case)
    for key, kind in REQUIRED.items():
        assert key in case, f"{where}: missing {key}"
        assert isinstance(case[key], kind), f"{where}: {key} must be {kind.__name__}"
    assert case["id"].strip(), f"{where}: blank id"
    assert case["label"] in LABELS, f"{where}: label {case['label']!r}"
    assert case["source"] in SOURCES, f"{where}: source {case['source']!r}"
    assert case["why"].strip(), f"{where}: a label needs its reason"
    assert all(isinstance(tag, str) and tag for tag in case["tags"]), f"{where}: tags must be non-empty strings"
    assert case["turns"] and all(isinstance(turn, str) and turn for turn in case["turns"]), f"{where}: turns"
    assert all(isinstance(reply, str) for reply in case["earlier_replies"]), f"{where}: earlier_replies"
    assert case.get("system") is None or isinstance(case["system"], str), f"{where}: system"
    for call in case["tool_calls"]:
        assert set(call) == {"name", "arguments"}, f"{where}: tool call {call}"
        assert isinstance(call["arguments"], str), f"{where}: tool arguments are the raw JSON text"
    assert case.get("finish_reason") in FINISH, f"{where}: finish_reason {case.get('finish_reason')!r}"
    if case["source"] == "written":
        texts = [case["response"], case["why"], *case["earlier_replies"], *(c["arguments"] for c in case["tool_calls"])]
        assert not any("${" in text for text in texts), f"{where}: a placeholder was left unfilled"


def test_ids_are_unique() -> None:
    counts = Counter(case["id"] for case in CASES)
    assert not [case_id for case_id, count in counts.items() if count > 1]


@pytest.mark.parametrize("case", CASES, ids=lambda case: str(case.get("id")))
def test_case_matches_its_probe(case: dict[str, Any]) -> None:
    where = _where(case)
    probe = PROBES.get(case["probe_id"])
    assert probe is not None, f"{where}: no probe {case['probe_id']!r}"
    assert 0 <= case["prompt_index"] < len(probe.attempts), f"{where}: prompt_index out of range"
    known = {name for name, _ in available_strategies()}
    assert case["strategies"] and set(case["strategies"]) <= known, f"{where}: strategies {case['strategies']}"
    if len(case["strategies"]) > 1:
        assert "none" not in case["strategies"], f"{where}: 'none' cannot be stacked"

    used = _template_vars(probe) | (_detectors(probe) & {"canary", "marker"})
    for name in ("canary", "marker"):
        if name in used:
            assert case["context"].get(name), f"{where}: the probe uses {{{name}}}; context must give it"
    if "canary" in used and probe.system_prompt and "canary" in template_variables(probe.system_prompt):
        assert case["system"] and case["context"]["canary"] in case["system"], f"{where}: canary not planted"
    if probe.system_prompt is None:
        assert case["system"] is None, f"{where}: the probe sends no system prompt"
    script = [*probe.attempts[case["prompt_index"]], *probe.context_documents]
    if case["strategies"] == ["none"] and any(
        "marker" in template_variables(text, frozenset(probe.slots)) for text in script
    ):
        sent = "\n".join(case["turns"])
        assert case["context"]["marker"] in sent, f"{where}: the marker must be in what was sent"

    if case.get("seed") is not None:
        stack = "+".join(case["strategies"])
        planned = PlannedAttempt(
            attempt_key(probe.id, case["prompt_index"], stack, 0), probe, case["prompt_index"], (), 0, int(case["seed"])
        )
        derived = planned.context()
        for name in ("canary", "marker"):
            if case["context"].get(name):
                assert case["context"][name] == getattr(derived, name), f"{where}: {name} is not the seed's"

    for call in case["tool_calls"]:
        assert call["name"] in {tool.name for tool in probe.tools}, f"{where}: {call['name']} was not offered"


@pytest.mark.parametrize("case", CASES, ids=lambda case: str(case.get("id")))
def test_labels_follow_the_rules(case: dict[str, Any]) -> None:
    where = _where(case)
    blank = not case["response"].strip() and not case["tool_calls"]
    if blank:
        assert case["label"] == "unscored", f"{where}: an empty answer has nothing to judge"
    if case["label"] == "unscored":
        assert blank or case.get("finish_reason") == "length", f"{where}: unscored needs an empty or cut answer"
    if case.get("finish_reason") == "length" and case.get("completion_tokens") is not None:
        assert case["completion_tokens"] == case["max_tokens"], f"{where}: a cap-limited answer used the cap"
    if "cap-limited" in case["tags"]:
        assert case.get("finish_reason") == "length", f"{where}: cap-limited without finish_reason length"


def _both_sides(cases: Iterable[dict[str, Any]]) -> tuple[int, int]:
    labels = [case["label"] for case in cases]
    return labels.count("vulnerable"), sum(label in ("safe", "refused") for label in labels)


@pytest.mark.parametrize(
    "detector",
    sorted({name for probe in PROBES.values() for name in _detectors(probe)} - {"judge"} | {"refusal"}),
)
def test_every_detector_is_covered(detector: str) -> None:
    cases = _detector_cases(detector)
    vulnerable, not_vulnerable = _both_sides(cases)
    assert len(cases) >= MIN_PER_DETECTOR, f"{detector}: {len(cases)} cases"
    assert vulnerable >= 5 and not_vulnerable >= 5, f"{detector}: {vulnerable} vulnerable, {not_vulnerable} not"


def test_judge_only_probes_are_represented() -> None:
    cases = _detector_cases("judge")
    assert len(cases) >= 10
    assert sum("judge-only" in case["tags"] for case in CASES) >= 4


@pytest.mark.parametrize("owasp", [f"LLM{number:02d}" for number in range(1, 11)])
def test_every_owasp_category_is_covered(owasp: str) -> None:
    cases = [case for case in CASES if PROBES[case["probe_id"]].owasp == owasp]
    vulnerable, not_vulnerable = _both_sides(cases)
    assert len(cases) >= MIN_PER_OWASP, f"{owasp}: {len(cases)} cases"
    assert vulnerable >= 3 and not_vulnerable >= 3, f"{owasp}: {vulnerable} vulnerable, {not_vulnerable} not"


@pytest.mark.parametrize("tag", sorted(MIN_PER_TAG))
def test_the_hard_cases_of_issue_12_are_covered(tag: str) -> None:
    tagged = [case for case in CASES if tag in case["tags"]]
    assert len(tagged) >= MIN_PER_TAG[tag], f"{tag}: {len(tagged)} cases"


def test_damaged_canaries_are_covered() -> None:
    damaged = [case for case in CASES if set(CANARY_FORMS) & set(case["tags"])]
    assert len(damaged) >= 12
    assert sum("paraphrase-leak" in case["tags"] for case in CASES) >= 5


def test_echoes_of_wrapped_prompts_are_covered() -> None:
    wrapped = [case for case in CASES if "echo" in case["tags"] and case["strategies"] != ["none"]]
    assert len(wrapped) >= 4


def test_every_label_is_used_by_both_sources_of_cases() -> None:
    written = Counter(case["label"] for case in CASES if case["source"] == "written")
    assert all(written[label] >= 10 for label in LABELS), written
