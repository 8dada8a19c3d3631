"""Tests for the compliance catalogue: the shipped framework files, the mapping, and the loader's errors.

The shipped files are loaded for real, because the point of these tests is that the data is right:
exact identifiers, every mapping reference resolving, and every probe category landing somewhere in the
frameworks a report is judged against. Loader failures are exercised on small files in ``tmp_path``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from app.compliance.catalog import (
    FRAMEWORKS_DIR,
    Catalog,
    CatalogError,
    Framework,
    default_catalog,
    load_catalog,
    load_frameworks,
    load_mapping,
    requirements_for,
    unmapped_requirements,
)

OWASP_IDS = [f"LLM{n:02d}" for n in range(1, 11)]
PACKS_DIR = Path(__file__).resolve().parents[3] / "app" / "engine" / "probes" / "packs"

EXPECTED_FRAMEWORKS = {
    "eu-ai-act",
    "india-dpdp-2023",
    "iso-42001-2023",
    "mitre-atlas",
    "nist-ai-600-1",
    "nist-ai-rmf-1.0",
    "owasp-agentic-2026",
    "owasp-llm-2025",
}

# Identifier shapes per framework: a malformed citation is almost always a transcription slip.
ID_SHAPES = {
    "owasp-llm-2025": r"LLM(0[1-9]|10)",
    "owasp-agentic-2026": r"ASI(0[1-9]|10)",
    "nist-ai-rmf-1.0": r"(GOVERN|MAP|MEASURE|MANAGE) \d+\.\d+",
    "iso-42001-2023": r"A\.(\d|10)\.\d+(\.\d+)?",
    "eu-ai-act": r"Art\. \d+\(\d+\)(\([a-z]\))?(\((i|ii|iii|iv|v)\))?",
    "india-dpdp-2023": r"Section \d+\(\d+\)(\([a-z]\))?",
    "mitre-atlas": r"AML\.T\d{4}(\.\d{3})?",
}

ISO_ANNEX_A_CONTROLS = [
    *["A.2.2", "A.2.3", "A.2.4", "A.3.2", "A.3.3"],
    *["A.4.2", "A.4.3", "A.4.4", "A.4.5", "A.4.6"],
    *["A.5.2", "A.5.3", "A.5.4", "A.5.5"],
    *["A.6.1.2", "A.6.1.3", "A.6.2.2", "A.6.2.3", "A.6.2.4", "A.6.2.5", "A.6.2.6", "A.6.2.7", "A.6.2.8"],
    *["A.7.2", "A.7.3", "A.7.4", "A.7.5", "A.7.6"],
    *["A.8.2", "A.8.3", "A.8.4", "A.8.5"],
    *["A.9.2", "A.9.3", "A.9.4"],
    *["A.10.2", "A.10.3", "A.10.4"],
]

NIST_600_1_RISKS = [
    "CBRN Information or Capabilities",
    "Confabulation",
    "Dangerous, Violent, or Hateful Content",
    "Data Privacy",
    "Environmental Impacts",
    "Harmful Bias or Homogenization",
    "Human-AI Configuration",
    "Information Integrity",
    "Information Security",
    "Intellectual Property",
    "Obscene, Degrading, and/or Abusive Content",
    "Value Chain and Component Integration",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def ids(catalog: Catalog, framework_id: str) -> list[str]:
    return [requirement.id for requirement in catalog.frameworks[framework_id].requirements]


# --- shipped data ------------------------------------------------------------------------------------


def test_all_shipped_frameworks_load(catalog: Catalog) -> None:
    assert set(catalog.frameworks) == EXPECTED_FRAMEWORKS
    for framework_id, framework in catalog.frameworks.items():
        assert (FRAMEWORKS_DIR / f"{framework_id}.yaml").is_file()
        assert framework.source.url.startswith("https://")
        assert framework.version


def test_exact_counts_of_fixed_size_frameworks(catalog: Catalog) -> None:
    assert ids(catalog, "owasp-llm-2025") == OWASP_IDS
    assert ids(catalog, "owasp-agentic-2026") == [f"ASI{n:02d}" for n in range(1, 11)]
    assert ids(catalog, "nist-ai-600-1") == NIST_600_1_RISKS
    assert ids(catalog, "iso-42001-2023") == ISO_ANNEX_A_CONTROLS
    assert len(ISO_ANNEX_A_CONTROLS) == 38


@pytest.mark.parametrize(("framework_id", "shape"), sorted(ID_SHAPES.items()))
def test_identifiers_have_the_citation_shape_of_their_framework(
    catalog: Catalog, framework_id: str, shape: str
) -> None:
    bad = [rid for rid in ids(catalog, framework_id) if not re.fullmatch(shape, rid)]
    assert bad == []


def test_atlas_sub_techniques_have_their_parent(catalog: Catalog) -> None:
    techniques = set(ids(catalog, "mitre-atlas"))
    orphans = [tid for tid in techniques if tid.count(".") == 2 and tid.rsplit(".", 1)[0] not in techniques]
    assert orphans == []


def test_requirements_carry_our_own_title_and_description(catalog: Catalog) -> None:
    for framework in catalog.frameworks.values():
        for requirement in framework.requirements:
            where = (framework.id, requirement.id)
            assert requirement.title.strip(), where
            assert requirement.description.strip(), where


def test_every_mapping_reference_resolves(catalog: Catalog) -> None:
    for rule in catalog.mapping.rules:
        for framework_id, requirement_ids in rule.requirements.items():
            framework = catalog.frameworks[framework_id]
            for requirement_id in requirement_ids:
                assert framework.requirement(requirement_id).id == requirement_id


@pytest.mark.parametrize("owasp", OWASP_IDS)
def test_each_owasp_category_has_a_rule_reaching_the_core_frameworks(catalog: Catalog, owasp: str) -> None:
    rules = [rule for rule in catalog.mapping.rules if rule.match.owasp == owasp and rule.match.tag is None]
    assert len(rules) == 1
    found = catalog.requirements_for(owasp, [])
    assert found["owasp-llm-2025"] == {owasp}
    for framework_id in ("nist-ai-rmf-1.0", "eu-ai-act", "iso-42001-2023", "nist-ai-600-1", "mitre-atlas"):
        assert found.get(framework_id), f"{owasp} maps to nothing in {framework_id}"


def test_every_atlas_technique_has_its_own_rule(catalog: Catalog) -> None:
    by_tag = {rule.match.tag: rule for rule in catalog.mapping.rules if rule.match.owasp is None}
    for technique in ids(catalog, "mitre-atlas"):
        rule = by_tag.get(f"atlas:{technique}")
        assert rule is not None, f"no mapping rule for atlas:{technique}"
        assert technique in rule.requirements["mitre-atlas"]


DESIGN_TAGS = ["jailbreak", "agentic", "pii", "injection", "direct", "indirect", "exfiltration", "tool"]


@pytest.mark.parametrize("tag", [*DESIGN_TAGS, "hallucination", "dos"])
def test_every_pack_tag_named_in_the_design_has_a_rule(catalog: Catalog, tag: str) -> None:
    assert any(rule.match.tag == tag and rule.match.owasp is None for rule in catalog.mapping.rules)


def test_atlas_tags_cited_by_probe_packs_are_catalogued(catalog: Catalog) -> None:
    if not PACKS_DIR.is_dir():
        pytest.skip("probe packs are not present in this checkout")
    cited = {
        match.group(1)
        for path in PACKS_DIR.glob("*.yaml")
        for match in re.finditer(r"atlas:(AML\.T\d{4}(?:\.\d{3})?)", path.read_text(encoding="utf-8"))
    }
    missing = sorted(cited - set(ids(catalog, "mitre-atlas")))
    assert missing == [], "add these techniques (and a mapping rule each) to mitre-atlas.yaml"


# --- requirements_for --------------------------------------------------------------------------------


def test_requirements_for_direct_prompt_injection() -> None:
    found = requirements_for("LLM01", ["atlas:AML.T0051.000"])
    assert found["owasp-llm-2025"] == {"LLM01"}
    assert found["mitre-atlas"] == {"AML.T0051", "AML.T0051.000"}
    assert found["nist-ai-rmf-1.0"] == {"MEASURE 2.7", "MEASURE 2.6"}
    assert found["nist-ai-600-1"] == {"Information Security"}
    assert found["iso-42001-2023"] == {"A.6.2.4", "A.9.4"}
    assert found["eu-ai-act"] == {"Art. 15(5)", "Art. 15(1)", "Art. 9(2)", "Art. 55(1)(a)"}
    assert set(found) == {
        "owasp-llm-2025",
        "mitre-atlas",
        "nist-ai-rmf-1.0",
        "nist-ai-600-1",
        "iso-42001-2023",
        "eu-ai-act",
    }


def test_tag_hierarchy_covers_children_but_not_siblings(catalog: Catalog) -> None:
    child = catalog.requirements_for("LLM01", ["atlas:AML.T0051.001"])["mitre-atlas"]
    assert child == {"AML.T0051", "AML.T0051.001"}
    upper_case = catalog.requirements_for("LLM01", ["ATLAS:aml.t0051.001"])["mitre-atlas"]
    assert upper_case == child


def test_combined_match_needs_both_category_and_tag(catalog: Catalog) -> None:
    assert "owasp-agentic-2026" not in catalog.requirements_for("LLM01", ["injection"])
    assert catalog.requirements_for("LLM01", ["agentic"])["owasp-agentic-2026"] == {"ASI01"}
    assert catalog.requirements_for("LLM05", ["agentic"])["owasp-agentic-2026"] == {"ASI01", "ASI05"}
    assert "Section 8(3)" not in catalog.requirements_for("LLM02", ["pii"])["india-dpdp-2023"]
    assert "Section 8(3)" in catalog.requirements_for("LLM09", ["pii"])["india-dpdp-2023"]


def test_tags_add_to_the_category_rule(catalog: Catalog) -> None:
    plain = catalog.requirements_for("LLM07", [])
    with_leak = catalog.requirements_for("LLM07", ["pii"])
    assert "india-dpdp-2023" not in plain
    assert with_leak["india-dpdp-2023"] == {"Section 8(5)"}
    assert plain["owasp-llm-2025"] < with_leak["owasp-llm-2025"]


def test_requirements_for_rejects_bad_input(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="unknown OWASP id 'LLM11'"):
        catalog.requirements_for("LLM11", [])
    with pytest.raises(TypeError, match="not a single string"):
        catalog.requirements_for("LLM01", "jailbreak")


def test_requirements_for_accepts_any_iterable(catalog: Catalog) -> None:
    from_iterator = catalog.requirements_for("LLM01", iter(("jailbreak",)))
    assert from_iterator == catalog.requirements_for("LLM01", ["jailbreak"])


# --- coverage gaps -----------------------------------------------------------------------------------


def test_unmapped_requirements_reports_gaps_for_every_framework() -> None:
    gaps = unmapped_requirements()
    assert set(gaps) == EXPECTED_FRAMEWORKS
    iso_gaps = [requirement.id for requirement in gaps["iso-42001-2023"]]
    assert "A.2.2" in iso_gaps
    assert "A.6.2.4" not in iso_gaps
    assert iso_gaps == [rid for rid in ISO_ANNEX_A_CONTROLS if rid in iso_gaps]  # file order kept
    assert gaps["owasp-llm-2025"] == []
    assert gaps["mitre-atlas"] == []


def test_gaps_and_mapped_partition_each_framework(catalog: Catalog) -> None:
    mapped: dict[str, set[str]] = {}
    for rule in catalog.mapping.rules:
        for framework_id, requirement_ids in rule.requirements.items():
            mapped.setdefault(framework_id, set()).update(requirement_ids)
    for framework_id, gaps in catalog.unmapped_requirements().items():
        gap_ids = {requirement.id for requirement in gaps}
        assert gap_ids.isdisjoint(mapped.get(framework_id, set()))
        assert gap_ids | mapped.get(framework_id, set()) == set(ids(catalog, framework_id))


def test_default_catalog_is_loaded_once() -> None:
    assert default_catalog() is default_catalog()
    with pytest.raises(TypeError):
        default_catalog().frameworks["x"] = default_catalog().frameworks["mitre-atlas"]  # type: ignore[index]


# --- loader errors (small files in tmp_path) ---------------------------------------------------------

FRAMEWORK_YAML = """\
id: demo
name: Demo framework
version: "1"
source:
  title: Demo publication
  url: https://example.org/demo
requirements:
  - id: R1
    title: First
    description: The first requirement.
  - id: R2
    title: Second
    description: The second requirement.
"""

MAPPING_YAML = """\
version: 1
rules:
  - match: {owasp: LLM01}
    requirements:
      demo: [R1]
"""


def write(directory: Path, framework: str = FRAMEWORK_YAML, mapping: str = MAPPING_YAML) -> Path:
    (directory / "demo.yaml").write_text(textwrap.dedent(framework), encoding="utf-8")
    (directory / "mapping.yaml").write_text(textwrap.dedent(mapping), encoding="utf-8")
    return directory


def test_loader_accepts_a_directory(tmp_path: Path) -> None:
    loaded = load_catalog(write(tmp_path))
    assert isinstance(loaded.frameworks["demo"], Framework)
    assert loaded.requirements_for("LLM01", []) == {"demo": {"R1"}}
    assert [r.id for r in loaded.unmapped_requirements()["demo"]] == ["R2"]
    assert load_catalog(str(tmp_path)).requirements_for("LLM02", []) == {}


def test_unknown_requirement_id_in_mapping_names_file_framework_and_id(tmp_path: Path) -> None:
    write(tmp_path, mapping=MAPPING_YAML.replace("[R1]", "[R1, R9]"))
    with pytest.raises(CatalogError) as excinfo:
        load_mapping(tmp_path)
    message = str(excinfo.value)
    assert "mapping.yaml" in message
    assert "'R9'" in message
    assert "'demo'" in message
    assert "rule 1 (owasp=LLM01)" in message


def test_unknown_framework_in_mapping(tmp_path: Path) -> None:
    write(tmp_path, mapping=MAPPING_YAML.replace("demo: [R1]", "nope: [R1]"))
    with pytest.raises(CatalogError, match=r"mapping\.yaml: rule 1 .*unknown framework 'nope'; known: demo"):
        load_catalog(tmp_path)


def test_duplicate_requirement_id(tmp_path: Path) -> None:
    write(tmp_path, framework=FRAMEWORK_YAML.replace("id: R2", "id: R1"))
    with pytest.raises(CatalogError, match=r"demo\.yaml: invalid framework: .*'R1' appears more than once"):
        load_frameworks(tmp_path)


def test_extra_key_in_requirement_names_the_requirement(tmp_path: Path) -> None:
    framework = FRAMEWORK_YAML.replace("    title: Second\n", "    title: Second\n    severity: high\n")
    write(tmp_path, framework=framework)
    with pytest.raises(CatalogError) as excinfo:
        load_frameworks(tmp_path)
    message = str(excinfo.value)
    assert "demo.yaml" in message
    assert "requirements.1.severity (requirement 'R2')" in message
    assert "Extra inputs are not permitted" in message


def test_extra_key_in_mapping_rule(tmp_path: Path) -> None:
    mapping = MAPPING_YAML.replace("    requirements:", "    evidence: strong\n    requirements:")
    write(tmp_path, mapping=mapping)
    expected = r"mapping\.yaml: invalid mapping: rules\.0\.evidence: Extra inputs"
    with pytest.raises(CatalogError, match=expected):
        load_mapping(tmp_path)


def test_framework_id_must_equal_file_stem(tmp_path: Path) -> None:
    write(tmp_path, framework=FRAMEWORK_YAML.replace("id: demo", "id: other"))
    with pytest.raises(CatalogError, match=r"framework id 'other' must equal the file name 'demo'"):
        load_frameworks(tmp_path)


def test_strict_types_reject_unquoted_version(tmp_path: Path) -> None:
    write(tmp_path, framework=FRAMEWORK_YAML.replace('version: "1"', "version: 1"))
    with pytest.raises(CatalogError, match=r"version: Input should be a valid string"):
        load_frameworks(tmp_path)


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, mapping=MAPPING_YAML.replace("demo: [R1]", "demo: [R1]\n      demo: [R2]"))
    with pytest.raises(CatalogError, match=r"mapping\.yaml: invalid YAML: .*duplicate key 'demo'"):
        load_mapping(tmp_path)


@pytest.mark.parametrize(
    ("match", "error"),
    [
        ("{}", "match needs at least one of 'owasp' or 'tag'"),
        ("{owasp: LLM11}", "rules.0.match.owasp"),
        ("{tag: 'atlas:T0051'}", "is not an ATLAS technique id"),
        ("{tag: 'two words'}", "rules.0.match.tag"),
    ],
)
def test_bad_match(tmp_path: Path, match: str, error: str) -> None:
    write(tmp_path, mapping=MAPPING_YAML.replace("{owasp: LLM01}", match))
    with pytest.raises(CatalogError, match=re.escape(error)):
        load_mapping(tmp_path)


def test_repeated_match_and_empty_list_are_rejected(tmp_path: Path) -> None:
    repeated = MAPPING_YAML + "  - match: {owasp: LLM01}\n    requirements:\n      demo: [R2]\n"
    write(tmp_path, mapping=repeated)
    with pytest.raises(CatalogError, match=r"two rules share the match \(owasp=LLM01\)"):
        load_mapping(tmp_path)
    write(tmp_path, mapping=MAPPING_YAML.replace("[R1]", "[]"))
    with pytest.raises(CatalogError, match=r"framework 'demo' lists no requirement ids"):
        load_mapping(tmp_path)


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no framework files"):
        load_frameworks(tmp_path)
    (tmp_path / "demo.yaml").write_text(FRAMEWORK_YAML, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"mapping\.yaml: cannot read file"):
        load_mapping(tmp_path)
