"""SARIF rendering: valid against the vendored OASIS schema, and shaped the way GitHub code scanning needs."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import validators

from app.engine.probes.registry import get_probe
from app.reports.sarif import SARIF_SCHEMA_FILE, render_sarif

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
NAMES = ("vulnerable", "clean", "inconclusive")
# Written out here rather than imported, so a wrong table in the module fails the test.
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"scan-result-{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SARIF_SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = validators.validator_for(schema)  # the draft the schema declares (Draft-04 for the OASIS file)
    cls.check_schema(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker())


def errors(validator: Any, log: dict[str, Any]) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(log)]


def test_vendored_schema_is_the_oasis_one() -> None:
    data = SARIF_SCHEMA_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
    schema = json.loads(data)
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert validators.validator_for(schema) is jsonschema.Draft4Validator


def test_the_validator_rejects_what_the_schema_forbids(validator: Any) -> None:
    log = render_sarif(load("vulnerable"))
    broken = copy.deepcopy(log)
    del broken["runs"][0]["results"][0]["message"]
    broken["runs"][0]["results"][1]["level"] = "fatal"
    broken["runs"][0]["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "a b:c"
    assert len(errors(validator, broken)) == 3


@pytest.mark.parametrize("name", NAMES)
def test_fixture_renders_a_valid_log(validator: Any, name: str) -> None:
    log = render_sarif(load(name))
    assert errors(validator, log) == []
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "SecureAI"
    assert driver["version"]


@pytest.mark.parametrize("name", NAMES)
def test_one_rule_per_probe_that_ran(name: str) -> None:
    result = load(name)
    rules = render_sarif(result)["runs"][0]["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [probe["probe_id"] for probe in result["probes"]]
    for rule, probe in zip(rules, result["probes"], strict=True):
        known = get_probe(probe["probe_id"])
        assert rule["shortDescription"]["text"] == probe["title"]
        assert rule["fullDescription"]["text"] == known.description
        assert rule["help"]["text"] == known.remediation
        assert "security" in rule["properties"]["tags"]
        assert f"owasp-llm:{probe['owasp']}" in rule["properties"]["tags"]
        assert set(known.tags) <= set(rule["properties"]["tags"])
        assert rule["properties"]["security-severity"] == SECURITY_SEVERITY[probe["severity"]]
        assert float(rule["properties"]["security-severity"]) > 0


@pytest.mark.parametrize("name", NAMES)
def test_results_only_for_findings_with_the_severity_level(name: str) -> None:
    result = load(name)
    run = render_sarif(result)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [item["ruleId"] for item in run["results"]] == [finding["probe_id"] for finding in result["findings"]]
    for item, finding in zip(run["results"], result["findings"], strict=True):
        assert rules[item["ruleIndex"]]["id"] == item["ruleId"]
        assert item["level"] == LEVEL[finding["severity"]]
        assert item["properties"]["asr"] == finding["asr"]
        assert item["properties"]["asr_ci95"] == finding["asr_ci95"]
        assert item["properties"]["evidence"] == finding["evidence"]
        assert item["properties"]["strategy_stacks"] == finding["strategy_stacks"]
        vulnerable = finding["counts"]["vulnerable"]
        assert f"in {vulnerable} of " in item["message"]["text"]
        assert f"ASR {finding['asr'] * 100:.1f}%" in item["message"]["text"]


def test_clean_scan_has_rules_but_no_results() -> None:
    run = render_sarif(load("clean"))["runs"][0]
    assert run["results"] == []
    assert len(run["tool"]["driver"]["rules"]) == 45
    assert run["invocations"] == [{"executionSuccessful": True}]


@pytest.mark.parametrize("severity", sorted(LEVEL))
def test_level_follows_the_finding_severity(severity: str) -> None:
    result = load("vulnerable")
    result["findings"][0]["severity"] = severity
    assert render_sarif(result)["runs"][0]["results"][0]["level"] == LEVEL[severity]


def test_locations_are_what_github_accepts() -> None:
    result = load("vulnerable")
    for item in render_sarif(result)["runs"][0]["results"]:
        [location] = item["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "secureai/targets/openai_secureai-simulator-vulnerable"
        assert location["logicalLocations"] == [{"name": result["target"], "kind": "module"}]


def test_a_hostile_target_label_still_gives_a_relative_uri(validator: Any) -> None:
    result = load("vulnerable")
    result["target"] = "openai:gpt-4o@https://user:pw@host:8443/v1/../../etc passwd?#"
    log = render_sarif(result)
    assert errors(validator, log) == []
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("secureai/targets/")
    assert not set(uri) & set(":?#@ ") and ".." not in uri.split("/")


def test_fingerprints_are_stable_and_distinct() -> None:
    result = load("vulnerable")
    first = [item["partialFingerprints"] for item in render_sarif(result)["runs"][0]["results"]]
    rerun = copy.deepcopy(result)
    rerun["generated_at"] = "2030-01-01T00:00:00+00:00"
    for finding in rerun["findings"]:  # the same weakness, measured differently next time
        finding["asr"], finding["attempts"] = 0.25, 40
    second = [item["partialFingerprints"] for item in render_sarif(rerun)["runs"][0]["results"]]
    assert first == second
    values = [prints["secureaiFinding/v1"] for prints in first]
    assert len(set(values)) == len(values) == len(result["findings"])
    other = copy.deepcopy(result)
    other["target"] = "openai:another-app"
    third = [item["partialFingerprints"] for item in render_sarif(other)["runs"][0]["results"]]
    assert not set(map(str, first)) & set(map(str, third))


def test_inconclusive_scan_is_not_a_successful_execution() -> None:
    result = load("inconclusive")
    assert result["summary"]["inconclusive"] is True
    [invocation] = render_sarif(result)["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert "Inconclusive" in note["message"]["text"]


def test_errors_below_the_limit_are_a_warning() -> None:
    result = load("inconclusive")
    result["summary"]["inconclusive"] = False
    [invocation] = render_sarif(result)["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    assert [note["level"] for note in invocation["toolExecutionNotifications"]] == ["warning"]


def test_run_properties_carry_the_summary() -> None:
    result = load("vulnerable")
    run = render_sarif(result)["runs"][0]
    assert run["properties"]["summary"] == result["summary"]
    assert run["properties"]["plan"] == result["plan"]
    assert run["automationDetails"]["id"] == "secureai/openai_secureai-simulator-vulnerable/"


def test_probe_missing_from_the_catalogue_falls_back_to_the_document(validator: Any) -> None:
    result = load("vulnerable")
    imported = {
        **copy.deepcopy(result["findings"][0]),
        "probe_id": "garak.dan.dan_11_0",
        "title": "DAN 11.0 (imported from garak)",
        "owasp": "LLM01",
        "severity": "high",
    }
    result["findings"].append(imported)
    result["probes"].append(
        {key: value for key, value in imported.items() if key not in ("evidence", "strategy_stacks")}
    )
    log = render_sarif(result)
    assert errors(validator, log) == []
    rule = log["runs"][0]["tool"]["driver"]["rules"][-1]
    assert rule["id"] == "garak.dan.dan_11_0"
    assert rule["fullDescription"]["text"] == "DAN 11.0 (imported from garak)"
    assert "not in the shipped SecureAI catalogue" in rule["help"]["text"]
    assert rule["properties"]["catalogued"] is False
    assert log["runs"][0]["results"][-1]["ruleIndex"] == len(log["runs"][0]["tool"]["driver"]["rules"]) - 1


def test_a_finding_absent_from_probes_still_gets_a_rule() -> None:
    result = load("vulnerable")
    result["probes"] = []
    run = render_sarif(result)["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [f["probe_id"] for f in result["findings"]]


def test_lone_surrogates_in_evidence_do_not_break_utf8_output(validator: Any) -> None:
    result = load("vulnerable")
    result["findings"][0]["evidence"][0]["response"] = "leak \ud800 here 😀"
    log = render_sarif(result)
    encoded = json.dumps(log, ensure_ascii=False).encode("utf-8")
    assert "leak \ufffd here 😀" in encoded.decode("utf-8")
    assert errors(validator, log) == []
