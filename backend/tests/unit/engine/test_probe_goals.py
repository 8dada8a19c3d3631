"""Every shipped probe states its goal (what an adaptive attacker aims for) and a rubric (what the judge checks).

Adaptive strategies hand the goal to an attacker model and the judge grades responses with the rubric, so
both must exist for every probe, must never carry the secret, and goals must be distinct single sentences.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from app.engine.probes.registry import select
from app.engine.probes.schema import Probe, template_variables

PROBES = select("all")
#: A period, question or exclamation mark that ends a sentence: followed by whitespace or the end of the text.
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def test_all_probes_are_loaded() -> None:
    assert len(PROBES) >= 70


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.id)
def test_probe_has_goal_and_rubric(probe: Probe) -> None:
    assert probe.goal and probe.goal.strip(), f"{probe.id} has no goal"
    assert probe.rubric and probe.rubric.strip(), f"{probe.id} has no rubric"


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.id)
def test_goal_and_rubric_never_use_the_canary(probe: Probe) -> None:
    for text in (probe.goal or "", probe.rubric or ""):
        assert "canary" not in template_variables(text, frozenset(probe.slots))
        assert "{canary}" not in text


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.id)
def test_goal_is_one_sentence(probe: Probe) -> None:
    goal = (probe.goal or "").strip()
    assert goal.endswith("."), f"{probe.id}: goal must end with a period"
    assert len(SENTENCE_END.findall(goal)) == 1, f"{probe.id}: goal must be a single sentence: {goal!r}"


def test_goals_are_unique() -> None:
    counts = Counter((probe.goal or "").strip() for probe in PROBES)
    shared = {goal: count for goal, count in counts.items() if count > 1}
    assert not shared, f"probes share a goal: {shared}"
