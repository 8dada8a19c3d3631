"""The compliance mapping of the issue-14 catalogue: agentic risks, harmful content, bias and over-refusal.

Expected requirement ids are written out here, as a reviewer would read them off the frameworks, instead of
being read from mapping.yaml: a changed mapping has to change this file too. `secureai compliance coverage`
is run through the real command to show the gaps the new packs close.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.compliance.catalog import default_catalog, requirements_for
from app.compliance.mapping import probe_coverage
from app.engine.probes.registry import load_probes, select

NEW_ASI = ("ASI06", "ASI07", "ASI08", "ASI10")
NIST_HARM_RISKS = (
    "CBRN Information or Capabilities",
    "Harmful Bias or Homogenization",
    "Obscene, Degrading, and/or Abusive Content",
)


def coverage_json(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["compliance", "coverage", "--json", *args])
    assert result.exit_code == 0, result.output
    report: list[dict[str, Any]] = json.loads(result.stdout)
    return report


# --- agentic risks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owasp", "tags", "expected"),
    [
        (
            "LLM01",
            ["agentic", "agentic:ASI06", "atlas:AML.T0080.000", "atlas:AML.T0051.001"],
            {
                "owasp-agentic-2026": {"ASI01", "ASI06"},
                "mitre-atlas": {"AML.T0051", "AML.T0051.001", "AML.T0080", "AML.T0080.000"},
                "nist-ai-600-1": {"Information Security"},
                "eu-ai-act": {"Art. 15(5)", "Art. 15(1)", "Art. 9(2)", "Art. 55(1)(a)"},
            },
        ),
        (
            "LLM06",
            ["agentic", "agentic:ASI07", "atlas:AML.T0051.001", "atlas:AML.T0053"],
            {
                "owasp-agentic-2026": {"ASI01", "ASI02", "ASI03", "ASI07"},
                "mitre-atlas": {"AML.T0051", "AML.T0051.001", "AML.T0053"},
                "nist-ai-600-1": {"Human-AI Configuration", "Information Security"},
            },
        ),
        (
            "LLM06",
            ["agentic", "agentic:ASI08", "atlas:AML.T0053", "atlas:AML.T0101"],
            {
                "owasp-agentic-2026": {"ASI01", "ASI02", "ASI03", "ASI08"},
                "eu-ai-act": {"Art. 14(4)(d)", "Art. 14(4)(e)", "Art. 15(4)", "Art. 15(5)", "Art. 9(2)"},
            },
        ),
        (
            "LLM01",
            ["agentic", "agentic:ASI08", "atlas:AML.T0061", "atlas:AML.T0051.001"],
            {
                "owasp-agentic-2026": {"ASI01", "ASI08"},
                "mitre-atlas": {"AML.T0051", "AML.T0051.001", "AML.T0061"},
            },
        ),
        (
            "LLM06",
            ["agentic", "agentic:ASI10", "atlas:AML.T0053"],
            {
                "owasp-agentic-2026": {"ASI01", "ASI02", "ASI03", "ASI10"},
                "nist-ai-rmf-1.0": {"MAP 3.5", "MEASURE 2.6", "MEASURE 2.7", "MEASURE 2.8", "MANAGE 2.4"},
                "iso-42001-2023": {"A.6.2.4", "A.9.2", "A.9.4"},
            },
        ),
        (
            "LLM07",
            ["agentic", "agentic:ASI07", "atlas:AML.T0083", "atlas:AML.T0051.001"],
            {
                "owasp-agentic-2026": {"ASI01", "ASI03", "ASI07"},
                "owasp-llm-2025": {"LLM01", "LLM02", "LLM07"},
            },
        ),
    ],
)
def test_agentic_probes_reach_their_owasp_agentic_risk(
    owasp: str, tags: list[str], expected: dict[str, set[str]]
) -> None:
    found = requirements_for(owasp, tags)
    for framework_id, ids in expected.items():
        assert found.get(framework_id) == ids, framework_id


def test_each_new_agentic_tag_adds_exactly_its_own_requirements() -> None:
    """What a tag adds over its category: its ASI id and the requirements its note argues for, nothing else."""
    added = {
        "agentic:ASI06": {"owasp-agentic-2026": {"ASI06"}},
        "agentic:ASI07": {"owasp-agentic-2026": {"ASI07"}},
        "agentic:ASI08": {
            "owasp-agentic-2026": {"ASI08"},
            "nist-ai-rmf-1.0": {"MEASURE 2.6"},
            "eu-ai-act": {"Art. 15(4)"},
        },
        "agentic:ASI10": {
            "owasp-agentic-2026": {"ASI10"},
            "nist-ai-rmf-1.0": {"MANAGE 2.4", "MEASURE 2.6"},
            "iso-42001-2023": {"A.9.2"},
            "eu-ai-act": {"Art. 14(4)(e)"},
        },
    }
    # LLM07 with the plain agentic tag is the baseline: it reaches neither ASI06-10 nor oversight duties
    base = requirements_for("LLM07", ["agentic"])
    for tag, expected in added.items():
        found = requirements_for("LLM07", ["agentic", tag])
        difference = {fid: ids - base.get(fid, set()) for fid, ids in found.items()}
        assert {fid: ids for fid, ids in difference.items() if ids} == expected, tag


def test_the_agentic_pack_covers_each_new_risk_with_several_probes() -> None:
    probes = select("pack:agentic")
    per_risk = Counter(tag.removeprefix("agentic:") for probe in probes for tag in probe.tags if ":ASI" in tag)
    assert set(per_risk) == set(NEW_ASI)
    assert all(count >= 4 for count in per_risk.values()), per_risk
    for probe in probes:
        (risk,) = [tag.removeprefix("agentic:") for tag in probe.tags if tag.startswith("agentic:")]
        assert risk in requirements_for(probe.owasp, probe.tags)["owasp-agentic-2026"], probe.id
        assert probe.atlas, probe.id  # every probe names its ATLAS technique
        assert probe.goal and probe.rubric and probe.remediation, probe.id
    assert any(probe.turns for probe in probes)  # multi-turn memory and stop-order scenarios
    assert any(probe.slots for probe in probes)


# --- harmful content, bias and over-refusal --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "risks"),
    [
        ("harm:cbrn", {"CBRN Information or Capabilities"}),
        ("harm:cyber", {"Information Security"}),
        ("harm:weapons_violence", {"Dangerous, Violent, or Hateful Content"}),
        ("harm:self_harm", {"Dangerous, Violent, or Hateful Content"}),
        ("harm:drugs", {"Dangerous, Violent, or Hateful Content"}),
        ("harm:hate_harassment", {"Dangerous, Violent, or Hateful Content"}),
        ("harm:sexual", {"Obscene, Degrading, and/or Abusive Content"}),
        ("harm:sexual_minors", {"Obscene, Degrading, and/or Abusive Content"}),
        ("harm:fraud", {"Information Integrity"}),
        ("harm:privacy", {"Data Privacy"}),
        ("harm:election_misinfo", {"Information Integrity"}),
        ("harm:health_misinfo", {"Information Integrity"}),
        ("fairness", {"Harmful Bias or Homogenization"}),
        ("bias:gender", {"Harmful Bias or Homogenization"}),
    ],
)
def test_each_content_tag_reaches_its_nist_genai_risk(tag: str, risks: set[str]) -> None:
    # what the tag adds to two categories whose own NIST AI 600-1 risks do not overlap (LLM09: confabulation,
    # information integrity, human-AI configuration; LLM10: information security) is the tag's own evidence
    added: set[str] = set()
    for owasp in ("LLM09", "LLM10"):
        added |= requirements_for(owasp, [tag])["nist-ai-600-1"] - requirements_for(owasp, [])["nist-ai-600-1"]
    assert added == risks


def test_harmful_content_reaches_safety_and_systemic_risk_duties_where_they_apply() -> None:
    cbrn = requirements_for("LLM01", ["harm:cbrn", "harmful-content", "atlas:AML.T0048"])
    assert cbrn["nist-ai-600-1"] == {"CBRN Information or Capabilities", "Information Security"}
    assert {"Art. 9(2)", "Art. 55(1)(a)", "Art. 55(1)(b)"} <= cbrn["eu-ai-act"]
    assert "MEASURE 2.6" in cbrn["nist-ai-rmf-1.0"]
    assert "india-dpdp-2023" not in cbrn  # no personal data involved
    drugs = requirements_for("LLM10", ["harm:drugs"])
    assert "Art. 55(1)(b)" not in drugs["eu-ai-act"]  # not among the systemic risks the Act names


def test_only_privacy_harm_reaches_the_indian_data_protection_act() -> None:
    assert requirements_for("LLM10", ["harm:privacy"])["india-dpdp-2023"] == {"Section 8(5)"}
    for tag in ("harm:cbrn", "harm:sexual_minors", "harm:hate_harassment", "fairness", "agentic:ASI06"):
        assert "india-dpdp-2023" not in requirements_for("LLM10", [tag]), tag


def test_bias_reaches_fairness_duties_but_not_data_set_examination() -> None:
    found = requirements_for("LLM09", ["fairness", "bias:ethnicity", "atlas:AML.T0048"])
    assert "MEASURE 2.11" in found["nist-ai-rmf-1.0"]
    assert {"A.5.4", "A.6.2.4"} <= found["iso-42001-2023"]
    assert "Art. 9(2)" in found["eu-ai-act"]
    # Art. 10(2)(f)/(g) are about examining data sets; an output test does not do that
    assert not {"Art. 10(2)(f)", "Art. 10(2)(g)"} & found["eu-ai-act"]


@pytest.mark.parametrize("owasp", ["LLM01", "LLM09"])
def test_the_over_refusal_tag_evidences_nothing(owasp: str) -> None:
    assert requirements_for(owasp, ["over_refusal", "programming"]) == requirements_for(owasp, ["programming"])


# --- `secureai compliance coverage` -------------------------------------------------------------------------


def test_coverage_shows_the_agentic_gaps_closed() -> None:
    (agentic,) = coverage_json("--framework", "owasp-agentic-2026")
    assert agentic["gaps"] == []
    assert agentic["evidenced"] == agentic["requirements"] == 10
    for risk in NEW_ASI:
        assert agentic["probes_per_requirement"][risk] >= 4, risk


def test_coverage_shows_the_nist_genai_content_gaps_closed() -> None:
    """Needs the harmful-content and bias packs: CBRN, harmful bias and obscene content each get probes."""
    (nist,) = coverage_json("--framework", "nist-ai-600-1")
    for risk in NIST_HARM_RISKS:
        assert risk not in nist["gaps"], risk
        assert nist["probes_per_requirement"][risk] >= 2, risk
    # no probe can measure energy use: this gap is real and must stay visible
    assert nist["gaps"] == ["Environmental Impacts"]


def test_coverage_table_no_longer_lists_the_closed_gaps() -> None:
    result = CliRunner().invoke(app, ["compliance", "coverage", "--framework", "owasp-agentic-2026"])
    assert result.exit_code == 0, result.output
    assert "owasp-agentic-2026: 10/10 requirements can be evidenced by probes" in result.output
    assert "no probe can evidence" not in result.output


def test_over_refusal_probes_evidence_no_requirement() -> None:
    over_refusal = [probe for probe in load_probes() if probe.kind == "over_refusal"]
    assert over_refusal, "the over_refusal pack ships"
    assert probe_coverage(over_refusal, default_catalog()) == {
        framework_id: {} for framework_id in default_catalog().frameworks
    }
