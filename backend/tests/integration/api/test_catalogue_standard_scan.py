"""One selection across the new catalogue (a templated injection, harmful content, bias pairs, an over-refusal
prompt, an agentic probe) scanned with `--profile standard` against the vulnerable simulator, through the CLI
and through the platform API: the same plan, the same findings, each kind reported where it belongs."""

from __future__ import annotations

import json
from pathlib import Path

from app.db.enums import UserRole
from app.demo.simulator import running_simulator
from app.engine.sinks import read_jsonl
from tests.conftest import run_cli
from tests.integration.api.conftest import Api

SELECTION = ",".join(
    f"id:{probe_id}"
    for probe_id in (
        "pi.templated.claimed_authority",
        "harm.cyber.malware",
        "harm.cbrn.direct_production",
        "bias.age.hiring",
        "bias.gender.hiring",
        "or.code.kill_process",
        "agentic.rogue.disable_own_audit_log",
    )
)
#: What the vulnerable simulator does with each (app/demo/simulator.py, content.py, bias.py): it obeys the
#: injection and the agentic request, is biased on age only, answers the benign question, simulates compliance
#: with malware requests and refuses CBRN ones; without a judge the harmful ones cannot be found vulnerable.
FINDINGS = {"pi.templated.claimed_authority", "bias.age.hiring", "agentic.rogue.disable_own_audit_log"}


def _dry_run(url: str) -> dict[str, object]:
    plan = run_cli(
        "secureai", "scan", "-t", f"openai:sim@{url}", "-p", SELECTION, "--profile", "standard", "--dry-run",
        "--format", "json",
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    return dict(json.loads(plan.stdout))


def test_a_standard_scan_of_the_new_catalogue_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with running_simulator("vulnerable") as (url, _):
        plan = _dry_run(url)
        scan = run_cli(
            "secureai", "scan", "-t", f"openai:sim@{url}", "-p", SELECTION, "--profile", "standard", "-o", str(out),
            "--format", "json",
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    by_profile = plan["attempts_by_profile"]
    assert isinstance(by_profile, dict)
    assert plan["profile"] == "standard" and plan["attempts"] == by_profile["standard"]
    assert by_profile["quick"] == 7 * 2  # two prompts of each of the seven probes
    assert by_profile["quick"] < by_profile["standard"] <= by_profile["full"]
    header, records = read_jsonl(out)
    assert header is not None and header["profile"] == "standard"
    assert len(records) == plan["attempts"]
    result = json.loads(scan.stdout)
    assert result["profile"] == "standard"
    assert {finding["probe_id"] for finding in result["findings"]} == FINDINGS
    # every templated attempt says what it was filled with, and the standard profile varied it
    templated = [record for record in records if record.probe_id == "pi.templated.claimed_authority"]
    assert len(templated) == 8 and all(record.extra.get("slot.authority") for record in templated)
    assert len({record.extra["slot.authority"] for record in templated}) > 1
    harmful = [record for record in records if record.probe_id.startswith("harm.")]
    assert {record.outcome.value for record in harmful} <= {"refused", "unscored"}, "never safe without a judge"
    assert "harm.cyber.malware" in result["needs_judge"]
    bias = next(finding for finding in result["findings"] if finding["probe_id"] == "bias.age.hiring")
    assert "age:" in json.dumps(bias["evidence"])
    usability = result["usability"]["over_refusal"]
    assert usability["rate"] == 0.0 and usability["scored"] > 0


def test_the_same_standard_scan_through_the_platform_api(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with running_simulator("vulnerable") as (url, _):
        plan = _dry_run(url)
        target = api.simulator_target(url, analyst)
        started = api.client.post(
            "/api/v1/scans",
            json={"target_id": target["id"], "probes": SELECTION, "profile": "standard"},
            headers=analyst,
        )
        assert started.status_code == 202, started.text
        scan = api.wait_for_scan(started.json()["id"], analyst)
    assert scan["status"] == "completed", scan
    assert scan["options"]["profile"] == "standard"
    assert scan["attempts_planned"] == plan["attempts"]
    findings = api.client.get(f"/api/v1/scans/{scan['id']}/findings?limit=50", headers=analyst).json()["items"]
    assert {finding["probe_id"] for finding in findings} == FINDINGS
    report = api.client.get(f"/api/v1/scans/{scan['id']}/report?format=json", headers=analyst)
    assert report.status_code == 200, report.text
    document = report.json()
    assert document["usability"]["over_refusal"]["rate"] == 0.0
    assert "harm.cyber.malware" in document["needs_judge"]
