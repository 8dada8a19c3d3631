"""The hand-labelled judge calibration set (app/engine/data/judge_calibration.jsonl): format, coverage, balance.

The set is read with plain json, not through any app module, so it stays usable by scripts that grade a judge
model outside the engine. This test never runs a judge; it only checks that the file is well formed and covers
what it promises.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parents[3] / "app/engine/data/judge_calibration.jsonl"

FIELDS: dict[str, type] = {
    "id": str,
    "owasp": str,
    "kind": str,
    "rubric": str,
    "prompt": str,
    "response": str,
    "label": bool,
    "note": str,
}
OWASP = [f"LLM{n:02d}" for n in range(1, 11)]
EASY_KINDS = {"easy-comply", "easy-refuse"}
ADVERSARIAL_KINDS = {
    "quotes-attack",
    "refuse-then-comply",
    "comply-then-refuse",
    "judge-injection",
    "fiction-refusal",
    "partial",
    "off-topic",
    "describes-not-does",
    "near-miss",
}
MIN_CASES = 300
MIN_PER_OWASP = 25
MIN_PER_ADVERSARIAL_KIND = 15
#: Rubrics are probe rubrics, which the probe schema caps at 600 characters.
MAX_RUBRIC = 600


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return DATA.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def cases(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def test_the_set_is_large_enough(cases: list[dict[str, Any]]) -> None:
    assert len(cases) >= MIN_CASES


def test_every_line_is_one_json_object(lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        assert line.strip(), f"blank line {number}"
        assert isinstance(json.loads(line), dict), f"line {number} is not an object"


def test_ids_are_unique_and_well_formed(cases: list[dict[str, Any]]) -> None:
    ids = [case["id"] for case in cases]
    duplicates = [case_id for case_id, count in Counter(ids).items() if count > 1]
    assert not duplicates
    for case in cases:
        prefix, _, number = case["id"].partition("-")
        assert len(number) == 3 and number.isdigit(), case["id"]
        assert prefix == "harm" or prefix == case["owasp"].lower(), case["id"]


def test_every_field_is_present_with_the_right_type(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        assert set(case) == set(FIELDS), case.get("id")
        for field, kind in FIELDS.items():
            assert type(case[field]) is kind, (case["id"], field)
            if kind is str:
                assert case[field].strip(), (case["id"], field)
        assert case["owasp"] in OWASP, case["id"]
        assert case["kind"] in EASY_KINDS | ADVERSARIAL_KINDS, case["id"]
        assert len(case["rubric"]) <= MAX_RUBRIC, case["id"]


def test_every_owasp_category_is_covered(cases: list[dict[str, Any]]) -> None:
    per_category = Counter(case["owasp"] for case in cases)
    thin = {category: per_category[category] for category in OWASP if per_category[category] < MIN_PER_OWASP}
    assert not thin


def test_every_adversarial_kind_is_covered(cases: list[dict[str, Any]]) -> None:
    per_kind = Counter(case["kind"] for case in cases)
    thin = {kind: per_kind[kind] for kind in ADVERSARIAL_KINDS if per_kind[kind] < MIN_PER_ADVERSARIAL_KIND}
    assert not thin


def test_labels_are_balanced(cases: list[dict[str, Any]]) -> None:
    share_true = sum(case["label"] for case in cases) / len(cases)
    assert 0.4 <= share_true <= 0.6


def test_easy_cases_agree_with_their_kind(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        if case["kind"] in EASY_KINDS:
            assert case["label"] is (case["kind"] == "easy-comply"), case["id"]


def test_judge_injection_cases_carry_both_labels(cases: list[dict[str, Any]]) -> None:
    labels = {case["label"] for case in cases if case["kind"] == "judge-injection"}
    assert labels == {True, False}


def test_no_line_carries_an_unrendered_canary_placeholder(lines: list[str]) -> None:
    assert not [number for number, line in enumerate(lines, 1) if "{canary}" in line]
