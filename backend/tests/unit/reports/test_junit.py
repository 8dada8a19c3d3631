"""JUnit XML rendering: what CI systems count, and XML that survives whatever the target answered."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from app.reports.junit import CONCLUSIVENESS_TEST, render_junit, xml_safe

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
HOSTILE = "nul\x00 esc\x1b[31m cdata]]> <script>alert('x')</script> & \"quotes\" 😀 lone\ud800 \ufffe end"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"scan-result-{name}.json").read_text(encoding="utf-8"))
    return data


def parse(xml: str) -> TestSuite:
    """The single suite, parsed from UTF-8 bytes as a CI system reads the file."""
    document = JUnitXml.fromstring(xml.encode("utf-8"))
    [suite] = list(document)
    assert isinstance(suite, TestSuite)
    return suite


def cases(suite: TestSuite) -> dict[str, TestCase]:
    return {case.name: case for case in suite}


@pytest.mark.parametrize("name", ["vulnerable", "clean", "inconclusive"])
def test_counts_match_the_document(name: str) -> None:
    result = load(name)
    suite = parse(render_junit(result))
    no_scored = [p for p in result["probes"] if sum(p["counts"][o] for o in ("vulnerable", "safe", "refused")) == 0]
    assert suite.name == f"secureai: {result['target']}"
    assert suite.tests == len(result["probes"]) + 1  # + the conclusiveness check
    assert suite.failures == len(result["findings"])
    assert suite.skipped == len(no_scored)
    assert suite.errors == int(result["summary"]["inconclusive"])
    # the declared totals agree with the test cases themselves
    kinds = [type(outcome) for case in suite for outcome in case.result]
    assert kinds.count(Failure) == suite.failures
    assert kinds.count(Skipped) == suite.skipped
    assert kinds.count(Error) == suite.errors


def test_a_vulnerable_probe_fails_with_asr_and_evidence() -> None:
    result = load("vulnerable")
    finding = next(f for f in result["findings"] if f["probe_id"] == "sid.system_prompt.api_key")
    case = cases(parse(render_junit(result)))[f"{finding['probe_id']} — {finding['title']}"]
    assert case.classname == "LLM02"
    [failure] = case.result
    assert isinstance(failure, Failure)
    assert failure.type == "critical"
    assert failure.message.startswith("vulnerable: ASR 100.0% (95% CI 51.0%-100.0%)")
    assert "4 of 4 scored attempts" in failure.message
    assert finding["evidence"][0]["attempt"] in failure.text
    assert finding["evidence"][0]["response"] in failure.text


def test_a_safe_probe_passes() -> None:
    suite = parse(render_junit(load("clean")))
    for case in suite:
        assert case.result == [] or case.name == CONCLUSIVENESS_TEST
        assert case.is_passed


def test_a_probe_without_a_scored_attempt_is_skipped() -> None:
    result = load("inconclusive")
    probe = next(p for p in result["probes"] if p["asr"] is None)
    case = cases(parse(render_junit(result)))[f"{probe['probe_id']} — {probe['title']}"]
    [skipped] = case.result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "no scored attempt: 1 error, 0 blocked, 0 unscored"


def test_inconclusive_scan_is_an_erroring_test_case() -> None:
    suite = parse(render_junit(load("inconclusive")))
    [error] = cases(suite)[CONCLUSIVENESS_TEST].result
    assert isinstance(error, Error)
    assert error.type == "inconclusive"
    assert "3.0%" in error.message


def test_conclusive_scan_passes_the_check() -> None:
    case = cases(parse(render_junit(load("vulnerable"))))[CONCLUSIVENESS_TEST]
    assert case.is_passed
    assert case.classname == "secureai"


def test_suite_properties_and_time() -> None:
    result = load("vulnerable")
    suite = parse(render_junit(result))
    properties = {prop.name: prop.value for prop in suite.properties()}
    assert properties["risk_score"] == str(result["summary"]["risk_score"])
    assert properties["inconclusive"] == "false"
    assert properties["plan"] == result["plan"]
    assert suite.time == pytest.approx(result["run"]["seconds"])


def test_hostile_evidence_gives_well_formed_xml() -> None:
    result = load("vulnerable")
    finding = result["findings"][0]
    finding["title"] = f"title {HOSTILE}"
    finding["evidence"][0]["response"] = HOSTILE
    finding["evidence"][0]["prompt"] = HOSTILE
    for probe in result["probes"]:
        if probe["probe_id"] == finding["probe_id"]:
            probe["title"] = finding["title"]
    xml = render_junit(result)
    assert "\x00" not in xml and "\x1b" not in xml and "\ud800" not in xml and "\ufffe" not in xml
    ET.fromstring(xml.encode("utf-8"))  # noqa: S314  (our own output) a strict XML 1.0 parser accepts it
    case = cases(parse(xml))[f"{finding['probe_id']} — {xml_safe(finding['title'])}"]
    [failure] = case.result
    expected = "nul\ufffd esc\ufffd[31m cdata]]> <script>alert('x')</script> & \"quotes\" 😀 lone\ufffd \ufffd end"
    assert f"response: {expected}" in failure.text  # text round-trips: escaped, not stripped
    assert case.name.endswith(expected)


def test_xml_safe_keeps_what_xml_allows() -> None:
    allowed = "tab\t nl\n cr\r é 中 😀 \ud7ff \ue000 \ufffd \U0010ffff"
    assert xml_safe(allowed) == allowed
    assert xml_safe("\x01\x08\x0b\x0c\x1f\ufffe\uffff\udc00") == "\ufffd" * 8
    assert xml_safe(None) == ""
    assert xml_safe(True) == "true"
