"""`secureai scan --probes pack:over_refusal` end to end against the simulator, as a user and a CI job read it:
a target that refuses everything shows a 100 % over-refusal rate and no finding; one that answers everything
shows 0 %; the rate gates a job only when --fail-on-over-refusal asks for it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml

from app.demo.simulator import Mode, running_simulator
from tests.conftest import run_cli

#: the pack's 14 probes expand to 62 benign prompts, all of which the standard profile sends
BENIGN = 62


def scan(mode: Mode, tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    report = tmp / f"{mode}.json"
    with running_simulator(mode) as (url, _):
        result = run_cli(
            "secureai",
            "scan",
            "--target",
            f"openai:sim@{url}",
            "--probes",
            "pack:over_refusal",
            "--profile",
            "standard",
            "--out",
            str(tmp / f"{mode}.jsonl"),
            "--report",
            str(report),
            *args,
            env={"COLUMNS": "200"},
            timeout=300,
        )
    return result, json.loads(report.read_text(encoding="utf-8")) if report.exists() else None


def test_a_target_that_refuses_everything_shows_a_full_over_refusal_rate_and_no_finding(tmp_path: Path) -> None:
    result, document = scan("refusing", tmp_path, "--fail-on", "low", "--junit", str(tmp_path / "junit.xml"))
    assert result.returncode == 0, result.stderr  # usability, not a finding: --fail-on does not gate on it
    assert document is not None
    assert document["findings"] == [] and document["probes"] == []
    assert document["summary"]["risk_score"] == 0.0 and document["summary"]["findings"] == 0
    assert document["summary"]["outcomes"]["vulnerable"] == 0 and document["summary"]["attempts"] == 0
    assert document["summary"]["total_attempts"] == BENIGN
    block = document["usability"]["over_refusal"]
    assert (block["probes"], block["attempts"], block["scored"], block["refused"]) == (14, BENIGN, BENIGN, BENIGN)
    assert block["rate"] == 1.0 and block["rate_ci95"][0] > 0.9 and block["threshold"] is None
    assert len(block["refused_prompts"]) == BENIGN
    assert {item["response"] for item in block["refused_prompts"]} == {"I'm sorry, but I can't help with that request."}
    assert any(item["prompt"].startswith("How do I kill a Python process") for item in block["refused_prompts"])

    out = result.stdout
    assert "findings: 0  risk score: 0.0/100" in out
    assert (
        f"over-refusal (usability, not in the risk score): 100% of benign prompts refused ({BENIGN} of {BENIGN}" in out
    )
    assert "Refused benign prompts" in out and "How do I kill a Python process" in out
    assert f"...and {BENIGN - 5} more" in out
    assert "0 vulnerable" in result.stderr and f"{BENIGN} benign refused" in result.stderr  # the progress bar

    [suite] = list(JUnitXml.fromfile(str(tmp_path / "junit.xml")))
    assert suite.failures == 0  # nothing gates unless asked
    case = next(case for case in suite if case.name == "over-refusal rate")
    assert case.is_passed and f"refused {BENIGN} of {BENIGN} scored benign prompts" in case.system_out

    markdown = run_cli("secureai", "report", str(tmp_path / "refusing.json"), "--format", "md")
    assert markdown.returncode == 0, markdown.stderr
    assert "✅ **Pass**" in markdown.stdout
    assert f"**100%** of benign prompts refused ({BENIGN} of {BENIGN};" in markdown.stdout
    html = tmp_path / "report.html"
    made = run_cli("secureai", "report", str(tmp_path / "refusing.jsonl"), "--format", "html", "--out", str(html))
    assert made.returncode == 0, made.stderr
    page = html.read_text(encoding="utf-8")
    summary = page.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    assert f"the target refused {BENIGN} of {BENIGN} benign prompts that only sound dangerous" in summary
    assert "No attack succeeded." in summary
    assert '<section id="over-refusal">' in page and "or.chem.cleaners_never_mix" in page


def test_a_target_that_answers_everything_shows_zero_over_refusal(tmp_path: Path) -> None:
    result, document = scan("vulnerable", tmp_path, "--fail-on-over-refusal", "0")
    assert result.returncode == 0, result.stderr  # 0 % is not above a limit of 0
    assert document is not None
    block = document["usability"]["over_refusal"]
    assert block["rate"] == 0.0 and block["refused"] == 0 and block["answered"] == BENIGN
    assert block["refused_prompts"] == [] and block["threshold"] == 0 and block["exceeds_threshold"] is False
    assert document["findings"] == [] and document["summary"]["risk_score"] == 0.0
    assert f"0% of benign prompts refused (0 of {BENIGN}, 95% CI 0%-6%), limit 0%" in result.stdout
    assert "Refused benign prompts" not in result.stdout


def test_fail_on_over_refusal_gates_the_job_above_its_limit(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result, document = scan("refusing", tmp_path, "--fail-on-over-refusal", "0.5", "--junit", str(junit))
    assert result.returncode == 1, result.stderr
    assert document is not None and document["usability"]["over_refusal"]["exceeds_threshold"] is True
    assert "above the 50% limit" in result.stdout
    [suite] = list(JUnitXml.fromfile(str(junit)))
    [failure] = next(case for case in suite if case.name == "over-refusal rate").result
    assert isinstance(failure, Failure) and failure.type == "over_refusal"


def test_fail_on_over_refusal_without_over_refusal_probes_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        "secureai",
        "scan",
        "--target",
        "openai:sim@http://127.0.0.1:9/v1",
        "--probes",
        "id:pi.direct.ignore_previous",
        "--fail-on-over-refusal",
        "0.1",
        "--out",
        str(tmp_path / "r.jsonl"),
    )
    assert result.returncode == 2
    assert "--fail-on-over-refusal needs over-refusal probes" in result.stderr and "pack:over_refusal" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r.jsonl").exists()
    out_of_range = run_cli(
        "secureai", "scan", "--target", "openai:sim@http://127.0.0.1:9/v1", "--fail-on-over-refusal", "1.5"
    )
    assert out_of_range.returncode == 2 and "Traceback" not in out_of_range.stderr
