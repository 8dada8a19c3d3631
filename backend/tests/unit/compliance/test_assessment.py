"""Compliance coverage and per-scan assessment against the shipped probes and frameworks."""

from __future__ import annotations

import pytest

from app.compliance.catalog import default_catalog
from app.compliance.mapping import ProbeOutcome, RequirementStatus, assess, coverage_gaps, probe_coverage
from app.engine.probes.registry import load_probes, select


def test_every_probe_evidences_at_least_one_requirement() -> None:
    catalog = default_catalog()
    for probe in load_probes():
        assert catalog.requirements_for(probe.owasp, probe.tags), probe.id


def test_gaps_are_exactly_the_requirements_no_probe_reaches() -> None:
    catalog, probes = default_catalog(), load_probes()
    covered, gaps = probe_coverage(probes, catalog), coverage_gaps(probes, catalog)
    for framework_id, framework in catalog.frameworks.items():
        assert set(gaps[framework_id]) | set(covered[framework_id]) == {r.id for r in framework.requirements}
        assert not set(gaps[framework_id]) & set(covered[framework_id])
    assert gaps["owasp-llm-2025"] == []  # every OWASP category has probes
    assert "A.2.2" in gaps["iso-42001-2023"]  # an AI policy cannot be evidenced by attacking an endpoint


def test_assessment_statuses_and_coverage() -> None:
    catalog = default_catalog()
    selected = select("owasp:LLM01,owasp:LLM07")
    # a plain system-prompt leak: its tags evidence no other OWASP LLM category than LLM07 (and LLM02, below)
    leak = next(p for p in selected if p.owasp == "LLM07" and p.pack == "system_prompt_leak")
    injections = [p for p in selected if p.owasp == "LLM01"]
    outcomes = [ProbeOutcome(leak.id, vulnerable=2, scored=3)]
    outcomes += [ProbeOutcome(p.id, vulnerable=0, scored=2) for p in injections[1:]]
    outcomes.append(ProbeOutcome(injections[0].id, vulnerable=0, scored=0))  # errors only

    owasp = assess(outcomes, selected, catalog)["owasp-llm-2025"]
    status = {r.requirement_id: r for r in owasp.results}
    assert status["LLM07"].status is RequirementStatus.FAILED
    assert status["LLM07"].failed_probes == [leak.id]
    assert status["LLM01"].status is RequirementStatus.PARTIAL
    assert injections[0].id in status["LLM01"].unscored_probes
    assert status["LLM05"].status is RequirementStatus.NOT_TESTED
    # leak probes of these two categories carry atlas:AML.T0057 (data leakage), which also evidences LLM02
    assert status["LLM02"].status is not RequirementStatus.NOT_TESTED
    assert owasp.coverage_pct == 30.0
    assert owasp.count(RequirementStatus.NOT_TESTED) == 7


def test_a_clean_scan_passes_what_it_tested() -> None:
    selected = select("owasp:LLM07")
    outcomes = [ProbeOutcome(p.id, vulnerable=0, scored=1) for p in selected]
    owasp = assess(outcomes, selected, default_catalog())["owasp-llm-2025"]
    assert {r.requirement_id: r.status for r in owasp.results}["LLM07"] is RequirementStatus.PASSED


@pytest.mark.parametrize("framework", ["mitre-atlas", "eu-ai-act", "nist-ai-rmf-1.0"])
def test_nothing_is_failed_or_passed_without_probe_evidence(framework: str) -> None:
    result = assess([], select("owasp:LLM01"), default_catalog())[framework]
    assert result.coverage_pct == 0.0
    assert all(r.status is RequirementStatus.NOT_TESTED for r in result.results)
