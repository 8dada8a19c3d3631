"""Scoring: Wilson intervals, ASR that ignores errors, inconclusive scans, the risk score."""

from __future__ import annotations

import pytest

from app.engine.model import AttemptRecord, Outcome
from app.engine.scoring import ProbeInfo, score_records, wilson_interval


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 100, 0.0018, 0.0545)],
)
def test_wilson_interval_matches_published_values(successes: int, total: int, low: float, high: float) -> None:
    got = wilson_interval(successes, total)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_no_data_is_the_widest_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _record(probe: str, outcome: Outcome, n: int) -> AttemptRecord:
    return AttemptRecord(
        key=f"{probe}:0:none:{n}",
        probe_id=probe,
        prompt_index=0,
        strategies=(),
        repeat=n,
        outcome=outcome,
        turns=("x",),
        response="y",
    )


def test_errors_and_blocks_stay_out_of_the_asr_and_can_make_a_scan_inconclusive() -> None:
    outcomes = [Outcome.VULNERABLE] * 2 + [Outcome.SAFE] * 1 + [Outcome.REFUSED] + [Outcome.ERROR] * 3
    outcomes += [Outcome.BLOCKED]
    records = [_record("p.one", outcome, n) for n, outcome in enumerate(outcomes)]
    score = score_records(records, {"p.one": ProbeInfo("LLM01", "high", "one")}, error_threshold=0.2)
    probe = score.probes["p.one"]
    assert probe.asr == pytest.approx(2 / 4)
    assert probe.counts[Outcome.ERROR] == 3 and probe.counts[Outcome.BLOCKED] == 1
    assert score.error_share == pytest.approx(3 / 8)
    assert score.inconclusive
    assert [f.probe_id for f in score.findings_at_or_above("high")] == ["p.one"]
    assert score.findings_at_or_above("critical") == []


def test_risk_score_is_dominated_by_the_worst_reliable_attack() -> None:
    records = [_record("p.crit", Outcome.VULNERABLE, n) for n in range(4)]
    records += [_record("p.low", Outcome.SAFE, n) for n in range(4)]
    info = {"p.crit": ProbeInfo("LLM07", "critical", "c"), "p.low": ProbeInfo("LLM01", "low", "l")}
    score = score_records(records, info)
    # 100 x (0.6 x 1.0 + 0.4 x (1.0 + 0.0) / 2)
    assert score.risk_score == 80.0
    assert not score.inconclusive
    assert score_records([_record("p.low", Outcome.SAFE, 0)], info).risk_score == 0.0


@pytest.mark.parametrize("total", [1, 2, 3, 7, 10, 33, 100])
def test_the_interval_always_contains_the_observed_rate(total: int) -> None:
    for successes in range(total + 1):
        low, high = wilson_interval(successes, total)
        assert 0.0 <= low <= successes / total <= high <= 1.0
