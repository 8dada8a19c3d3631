"""The triage file and partial scans through the CLI, in process: `secureai report --triage/--fail-on` on a saved
result, a bad triage file as one line and exit 2, and an interrupted garak run whose report says so first."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VULNERABLE = FIXTURES / "reports" / "scan-result-vulnerable.json"
GARAK = FIXTURES / "garak" / "sample.report.jsonl"
TRIAGE = """schema: secureai.triage/v1
findings:
  - probe_id: oh.markdown_image.indirect_exfil
    state: false_positive
    reason: the image host is our own CDN
  - probe_id: sid.system_prompt.api_key
    state: accepted_risk
    reason: a honeypot key
    expires: 2099-01-31
  - probe_id: sid.system_prompt.connection_string
    state: accepted_risk
    reason: accepted last year
    expires: 2020-01-31
  - fingerprint: "%s"
    probe_id: spl.debug_mode
    state: false_positive
    reason: another target's decision
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_triage_file_sets_findings_aside_in_every_format_and_the_gate(tmp_path: Path) -> None:
    triage = tmp_path / "triage.yaml"
    triage.write_text(TRIAGE % ("0" * 64))
    # a platform finding carries its fingerprint: an entry of another fingerprint never matches it, probe id or not
    source = json.loads(VULNERABLE.read_text(encoding="utf-8"))
    for finding in source["findings"]:
        if finding["probe_id"] == "spl.debug_mode":
            finding["fingerprint"] = "1" * 64
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(source), encoding="utf-8")
    code, out, _ = _run("report", str(saved), "--triage", str(triage), "--format", "json")
    document = json.loads(out)
    # the two set aside leave the score (75.3 with them); the expired acceptance and the other target's entry do not
    aside = ["oh.markdown_image.indirect_exfil", "sid.system_prompt.api_key"]
    assert code == 0 and document["triage"]["set_aside"] == aside
    assert document["summary"]["risk_score_before_triage"] == 75.3 and document["summary"]["risk_score"] == 74.2
    states = {f["probe_id"]: f["triage"] and f["triage"]["state"] for f in document["findings"]}
    assert states["sid.system_prompt.connection_string"] == "accepted_risk" and states["spl.debug_mode"] is None

    _, markdown, _ = _run("report", str(saved), "--triage", str(triage), "--format", "md")
    assert "❌ **32 findings**" in markdown and "accepted risk (expired 2020-01-31)" in markdown
    assert "Set aside by triage (not in the verdict or the risk score): 2 findings" in markdown
    _, table, _ = _run("report", str(saved), "--triage", str(triage), "--format", "csv")
    rows = {row["probe_id"]: row for row in csv.DictReader(io.StringIO(table))}
    assert rows["sid.system_prompt.api_key"]["triage"] == "accepted risk until 2099-01-31"
    assert rows["sid.system_prompt.api_key"]["set_aside"] == "yes" and rows["spl.debug_mode"]["set_aside"] == "no"

    # the expired acceptance is a critical finding again: --fail-on critical fails on it alone
    assert _run("report", str(saved), "--triage", str(triage), "-f", "md", "--fail-on", "critical")[0] == 1
    renewed = tmp_path / "renewed.yaml"
    renewed.write_text(TRIAGE.replace("2020-01-31", "2099-01-31") % ("0" * 64))
    assert _run("report", str(saved), "--triage", str(renewed), "-f", "md", "--fail-on", "critical")[0] == 0
    assert _run("report", str(saved), "-f", "md", "--fail-on", "critical")[0] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: secureai.triage/v1\nfindings:\n  - probe_id: x\n    state: accepted_risk\n    reason: r\n",
         "findings.0: an accepted risk needs a reason and an expires date"),
        ("schema: secureai.triage/v1\nfindings:\n  - probe_id: x\n    state: open\n    expire: 2099-01-01\n",
         "findings.0.expire: Extra inputs are not permitted"),
        ("schema: secureai.triage/v1\nfindings:\n  - probe_id: x\n    state: muted\n", "findings.0.state"),
        ("schema: secureai.triage/v1\nfindings:\n  - state: open\n", "needs a fingerprint or a probe_id"),
        ("findings: []\n", "is not a secureai.triage/v1 document"),
        ("schema: [unclosed\n", "is not valid JSON or YAML"),
        ("schema: secureai.triage/v1\x00\n", "is not valid JSON or YAML"),
        ("schema: secureai.triage/v1\nfindings:\n  - probe_id: x\n    state: accepted_risk\n    reason: r\n"
         "    expires: 0001-01-01T00:00:00+01:00\n", "out of range"),
    ],
)  # fmt: skip
def test_a_bad_triage_file_is_one_line_and_exit_2(tmp_path: Path, text: str, message: str) -> None:
    triage = tmp_path / "triage.yaml"
    triage.write_text(text)
    code, out, err = _run("report", str(VULNERABLE), "--triage", str(triage), "-f", "md")
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_interrupted_garak_run_reports_as_partial(tmp_path: Path) -> None:
    cut = tmp_path / "interrupted.report.jsonl"
    lines = GARAK.read_text(encoding="utf-8").splitlines(keepends=True)
    cut.write_text("".join(line for line in lines if '"entry_type": "completion"' not in line), encoding="utf-8")
    log = tmp_path / "garak.jsonl"
    assert _run("import", "garak", str(cut), "--out", str(log), "--format", "json")[0] == 0
    code, markdown, _ = _run("report", str(log), "--format", "md", "--fail-on", "critical")
    attempts = sum('"type": "attempt"' in line for line in log.read_text(encoding="utf-8").splitlines())
    assert f"Partial scan (the garak run was interrupted): {attempts} attempts done." in markdown.splitlines()[2]
    assert code == 4  # nothing critical, but an interrupted run cannot pass a gate
    whole = tmp_path / "whole.jsonl"
    assert _run("import", "garak", str(GARAK), "--out", str(whole), "--format", "json")[0] == 0
    assert "Partial scan" not in _run("report", str(whole), "--format", "md")[1]
