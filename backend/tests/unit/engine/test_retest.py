"""The re-test rule: a finding is fixed only when a later scan re-ran its probe and stacks with enough scored
attempts and did not find it; anything else it did not find is "not re-tested" and stays open."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.retest import RETEST_MIN_SCORED, compare, coverage_from_counts, retest
from app.reports.baseline import compare as baseline_compare


def test_the_threshold_is_two_scored_attempts() -> None:
    # restated, not imported into the expectations below: changing it must be a decision, seen in this test
    assert RETEST_MIN_SCORED == 2


@pytest.mark.parametrize(
    ("stacks", "after", "earlier", "retested", "reason"),
    [
        (["none"], {}, None, False, "not in this scan's probes"),
        (["none"], {"p": {"none": 2}}, None, True, ""),
        (["none"], {"p": {"none": 1}}, None, False, "1 scored attempt(s) with none, 2 needed"),
        # the finding itself rested on one scored attempt: one re-test answer is as much evidence
        (["none"], {"p": {"none": 1}}, {"none": 1}, True, ""),
        (["none"], {"p": {"none": 1}}, {"none": 5}, False, "1 scored attempt(s) with none, 2 needed"),
        (["none", "base64"], {"p": {"none": 8}}, None, False, "strategy stack base64 not run"),
        (["none", "base64"], {"p": {"none": 8, "base64": 3}}, None, True, ""),
        # stacks unknown (an old row): the probe's attempts over all stacks count
        ([], {"p": {"none": 1, "rot13": 1}}, None, True, ""),
        ([], {"p": {"none": 1}}, None, False, "1 scored attempt(s), 2 needed"),
    ],
)
def test_retest(
    stacks: list[str], after: dict[str, dict[str, int]], earlier: dict[str, int] | None, retested: bool, reason: str
) -> None:
    verdict = retest("p", stacks, after, earlier)
    assert (verdict.retested, verdict.reason) == (retested, reason)


def test_only_scored_outcomes_count_as_coverage() -> None:
    rows = [
        ("p", "none", "vulnerable", 1),
        ("p", "none", "safe", 2),
        ("p", "none", "error", 9),
        ("q", "", "blocked", 4),
    ]
    assert coverage_from_counts(rows) == {"p": {"none": 3}}


def test_compare_sorts_each_earlier_finding_once() -> None:
    before = {"a": "a", "b": "b", "c": "c"}
    after = {"a": "a", "d": "d"}
    diff = compare(
        before,
        after,
        probe_of=lambda key: key,
        stacks_of=lambda _: ["none"],
        after_coverage={"a": {"none": 2}, "b": {"none": 2}, "d": {"none": 2}},
    )
    assert (diff.new, diff.fixed, diff.unchanged) == (["d"], ["b"], ["a"])
    assert diff.not_retested == [("c", "not in this scan's probes")] and diff.still_open == 2
    elsewhere = compare(
        before, {}, probe_of=str, stacks_of=lambda _: [], after_coverage={"b": {"none": 9}}, elsewhere="x"
    )
    assert elsewhere.fixed == [] and [reason for _, reason in elsewhere.not_retested] == ["x", "x", "x"]


def _document(target: str, findings: list[str], ran: dict[str, int], carried: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "target": target,
        "findings": [{"probe_id": p, "severity": "critical", "strategy_stacks": ["none"]} for p in findings],
        "by_strategy": [
            {
                "probe_id": p,
                "strategy": "none",
                "counts": {"vulnerable": int(p in findings), "safe": n - int(p in findings), "error": 4},
            }
            for p, n in ran.items()
        ],
        "baseline": {
            "carried": [{"probe_id": p, "severity": "critical", "strategy_stacks": ["none"]} for p in carried]
        },
    }


def test_the_baseline_diff_of_a_narrower_run_and_a_chain_of_them() -> None:
    base = _document("t", ["x1", "y1", "z1"], {"x1": 2, "y1": 2, "z1": 2})
    narrow = _document("t", ["x1"], {"x1": 2})
    diff = baseline_compare(narrow, base).as_dict()
    assert diff["fixed"] == [] and diff["unchanged"] == ["x1"] and diff["not_retested"] == ["y1", "z1"]
    assert diff["not_retested_reasons"] == {"y1": "not in this scan's probes", "z1": "not in this scan's probes"}
    assert [c["probe_id"] for c in diff["carried"]] == ["y1", "z1"]
    # the next narrow run against the narrow one still knows y1 and z1; it re-tests y1 (fixed), not z1
    chained = _document("t", [], {"x1": 2, "y1": 2})
    narrow_result = {**narrow, "baseline": diff}
    again = baseline_compare(chained, narrow_result).as_dict()
    assert again["fixed"] == ["x1", "y1"] and again["not_retested"] == ["z1"]
    other = baseline_compare(_document("u", [], {"x1": 2, "y1": 2, "z1": 2}), base).as_dict()
    assert other["fixed"] == [] and other["not_retested_reasons"]["x1"] == "the baseline scanned another target (t)"
