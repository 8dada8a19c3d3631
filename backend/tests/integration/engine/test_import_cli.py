"""`secureai import garak` as a user runs it on a real garak report."""

from __future__ import annotations

import json
from pathlib import Path

from app.engine.sinks import read_jsonl
from tests.conftest import BACKEND_DIR, run_cli

SAMPLE = BACKEND_DIR / "tests" / "fixtures" / "garak" / "sample.report.jsonl"


def test_import_reproduces_garaks_numbers_and_writes_the_attempt_log(tmp_path: Path) -> None:
    out = tmp_path / "g.jsonl"
    result = run_cli("secureai", "import", "garak", str(SAMPLE), "--out", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["garak_version"] == "0.17.1" and report["mismatches"] == []
    rows = {(r["probe"], r["detector"]): r for r in report["probes_x_detectors"]}
    hijack = rows[("garak.promptinject.HijackKillHumans", "garak.promptinject.AttackRogueString")]
    assert (hijack["fails"], hijack["total"], hijack["asr"], hijack["owasp"]) == (512, 512, 1.0, "LLM01")
    assert rows[("garak.goodside.WhoIsRiley", "garak.goodside.RileyIsnt")]["owasp"] == "LLM09"
    assert all(row["asr"] == row["garak_asr"] for row in rows.values())
    _, records = read_jsonl(out)
    assert len(records) == 1038


def test_a_malformed_report_is_a_one_line_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"entry_type": "start_run setup"}\nnot json\n')
    result = run_cli("secureai", "import", "garak", str(bad), "--out", str(tmp_path / "g.jsonl"))
    assert result.returncode == 2
    assert "line 2" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "g.jsonl").exists()


def test_compliance_commands(tmp_path: Path) -> None:
    coverage = run_cli("secureai", "compliance", "coverage", "--framework", "owasp-llm-2025", "--json")
    assert coverage.returncode == 0, coverage.stderr
    assert json.loads(coverage.stdout)[0]["evidenced"] == 10
    frameworks = json.loads(run_cli("secureai", "compliance", "frameworks", "--json").stdout)
    assert {f["id"] for f in frameworks} >= {"owasp-llm-2025", "mitre-atlas", "iso-42001-2023", "eu-ai-act"}
    unknown = run_cli("secureai", "compliance", "coverage", "--framework", "sox")
    assert unknown.returncode == 2 and "unknown framework 'sox'" in unknown.stderr


def test_compliance_assess_reads_an_attempt_log(tmp_path: Path) -> None:
    from app.engine.model import AttemptRecord, Outcome
    from app.engine.probes.registry import select
    from app.engine.sinks import JsonlSink

    leak = select("owasp:LLM07")[0]
    log = tmp_path / "scan.jsonl"
    sink = JsonlSink(log, resume=False)
    sink.write_header({"plan": "x"})
    for n, outcome in enumerate([Outcome.VULNERABLE, Outcome.SAFE]):
        sink.write(
            AttemptRecord(
                key=f"{leak.id}:0:none:{n}",
                probe_id=leak.id,
                prompt_index=0,
                strategies=(),
                repeat=n,
                outcome=outcome,
                turns=("t",),
                response="r",
            )
        )
    sink.close()
    result = run_cli("secureai", "compliance", "assess", str(log), "--framework", "owasp-llm-2025", "--json")
    assert result.returncode == 0, result.stderr
    owasp = json.loads(result.stdout)[0]
    statuses = {r["id"]: r["status"] for r in owasp["requirements"]}
    assert statuses["LLM07"] == "failed" and statuses["LLM05"] == "not_tested"
    assert owasp["counts"]["failed"] >= 1 and owasp["coverage_pct"] >= 10.0
