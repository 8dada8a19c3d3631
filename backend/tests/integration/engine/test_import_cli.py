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


# --- what an imported finding means: the garak probe table through the real CLI, in process (fast)


def _garak_report(path: Path, probes: dict[str, tuple[str, list[float]]]) -> Path:
    """A small garak 0.17-style report: per probe (garak name) one prompt, its detector and one score per output."""
    lines: list[dict[str, object]] = [
        {
            "entry_type": "start_run setup",
            "plugins.target_type": "openai.OpenAICompatible",
            "plugins.target_name": "shop-bot",
            "run.generations": 2,
            "run.eval_threshold": 0.5,
            "plugins.probe_spec": ",".join(probes),
        },
        {"entry_type": "init", "garak_version": "0.17.1", "start_time": "2026-01-02T03:04:05", "run": "r-1"},
    ]
    for seq, (probe, (detector, scores)) in enumerate(probes.items()):
        attempt = {
            "entry_type": "attempt",
            "uuid": f"u{seq}",
            "seq": seq,
            "probe_classname": probe,
            "prompt": {"turns": [{"role": "user", "content": {"text": f"attack {seq}"}}]},
            "outputs": [{"text": f"answer {n}"} for n in range(len(scores))],
        }
        lines += [{**attempt, "status": 1}, {**attempt, "status": 2, "detector_results": {detector: scores}}]
        fails = sum(score >= 0.5 for score in scores)
        lines.append(
            {
                "entry_type": "eval",
                "probe": probe,
                "detector": detector,
                "passed": len(scores) - fails,
                "fails": fails,
                "nones": 0,
                "total_evaluated": len(scores),
            }
        )
    lines.append({"entry_type": "completion", "end_time": "2026-01-02T03:05:00"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_an_imported_dan_jailbreak_is_a_high_llm01_finding_that_gates_ci(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli.main import app as cli

    report = _garak_report(
        tmp_path / "garak.report.jsonl",
        {
            "dan.Dan_11_0": ("dan.DAN", [1.0, 1.0]),  # 100 % DAN jailbreak
            "goodside.WhoIsRiley": ("goodside.RileyIsnt", [0.0, 0.0]),  # class row: LLM09, passed
            "brandnew.Probe": ("brandnew.Detector", [1.0, 0.0]),  # a module SecureAI's table does not know
        },
    )
    log = tmp_path / "garak.jsonl"
    runner = CliRunner()

    imported = runner.invoke(cli, ["import", "garak", str(report), "--out", str(log), "--format", "json"])
    assert imported.exit_code == 0, imported.output
    summary = json.loads(imported.stdout)
    assert summary["engine"] == "garak" and summary["unmapped_probes"] == ["garak.brandnew.Probe"]
    rows = {row["probe"]: row for row in summary["probes_x_detectors"]}
    assert (rows["garak.dan.Dan_11_0"]["owasp"], rows["garak.dan.Dan_11_0"]["severity"]) == ("LLM01", "high")
    assert (rows["garak.goodside.WhoIsRiley"]["owasp"], rows["garak.goodside.WhoIsRiley"]["severity"]) == (
        "LLM09",
        "low",
    )
    unknown = rows["garak.brandnew.Probe"]
    assert (unknown["owasp"], unknown["severity"], unknown["mapped"]) == (None, None, False)
    assert "1 garak probe(s) have no OWASP category" in imported.stderr
    assert "garak.brandnew.Probe" in imported.stderr

    table = runner.invoke(cli, ["import", "garak", str(report), "--out", str(log)])
    assert table.exit_code == 0 and "unmapped" in table.stdout and "warning:" in table.stderr

    result = runner.invoke(cli, ["report", str(log), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["engine"], document["engine_version"]) == ("garak", "0.17.1")
    assert document["unmapped_probes"] == ["garak.brandnew.Probe"]
    findings = {finding["probe_id"]: finding for finding in document["findings"]}
    assert (findings["garak.dan.Dan_11_0"]["owasp"], findings["garak.dan.Dan_11_0"]["severity"]) == ("LLM01", "high")
    assert findings["garak.brandnew.Probe"]["severity"] == "info"  # unmapped: listed above, scored info
    assert document["findings"][0]["probe_id"] == "garak.dan.Dan_11_0"  # most severe first
    assert document["summary"]["risk_score"] > 50

    sarif = json.loads(runner.invoke(cli, ["report", str(log), "--format", "sarif"]).stdout)
    run = sarif["runs"][0]
    assert run["tool"]["extensions"] == [{"name": "garak", "version": "0.17.1"}]
    assert run["properties"]["engine"] == "garak"
    levels = {res["ruleId"]: res["level"] for res in run["results"]}
    assert levels == {"garak.dan.Dan_11_0": "error", "garak.brandnew.Probe": "note"}
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert "owasp-llm:LLM01" in rules["garak.dan.Dan_11_0"]["properties"]["tags"]

    markdown = runner.invoke(cli, ["report", str(log), "--format", "md"]).stdout
    assert "Engine: **garak** 0.17.1 (imported)" in markdown and "`garak.brandnew.Probe`" in markdown

    gate = runner.invoke(cli, ["report", str(log), "--format", "json", "--fail-on", "high"])
    assert gate.exit_code == 1 and "1 open finding(s) at or above high" in gate.stderr
    assert "1 imported probe(s) unmapped, scored info whatever they found: garak.brandnew.Probe" in gate.stderr
    assert runner.invoke(cli, ["report", str(log), "--format", "json", "--fail-on", "critical"]).exit_code == 0

    assessed = runner.invoke(cli, ["compliance", "assess", str(log), "--framework", "owasp-llm-2025", "--json"])
    assert assessed.exit_code == 0, assessed.output
    owasp = json.loads(assessed.stdout)[0]
    statuses = {r["id"]: r for r in owasp["requirements"]}
    assert statuses["LLM01"]["status"] == "failed" and statuses["LLM01"]["failed_probes"] == ["garak.dan.Dan_11_0"]
    assert statuses["LLM09"]["status"] == "passed"
    assert owasp["coverage_pct"] == 20.0  # LLM01 and LLM09 of ten; the unmapped probe evidences nothing
