"""`secureai scan --baseline --fail-on-new` after a narrower re-scan (issue 15): the probes it did not run are
"not re-tested", still open, never "fixed"; the counts printed are the honest ones."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from app.cli.main import app as cli
from app.demo.simulator import running_simulator

WIDE = "owasp:LLM01,owasp:LLM02,owasp:LLM05,owasp:LLM06,owasp:LLM07"
NARROW = "owasp:LLM01,owasp:LLM07"


def test_a_narrower_rescan_reports_not_retested_not_fixed(tmp_path: Path) -> None:
    base, again = tmp_path / "base.json", tmp_path / "again.json"
    with running_simulator("vulnerable") as (url, _):
        scan = ["scan", "-t", f"openai:sim@{url}", "--fail-on", "high"]
        first = CliRunner().invoke(cli, [*scan, "-p", WIDE, "-o", str(tmp_path / "a.jsonl"), "--report", str(base)])
        assert first.exit_code == 1, first.output  # high findings, no baseline
        rescan = ["-p", NARROW, "-o", str(tmp_path / "b.jsonl"), "--report", str(again)]
        second = CliRunner().invoke(cli, [*scan, *rescan, "--baseline", str(base), "--fail-on-new"])
    before = json.loads(base.read_text())["findings"]
    outside = {f["probe_id"] for f in before if f["owasp"] in ("LLM02", "LLM05", "LLM06")}
    inside = {f["probe_id"] for f in before if f["owasp"] in ("LLM01", "LLM07")}
    assert outside and inside
    # nothing new at or above high, so --fail-on-new passes; nothing outside the scope counts as fixed
    assert second.exit_code == 0, second.output
    printed = " ".join(second.output.split())  # the console wraps at its width
    expected = f"0 new (none), 0 fixed, {len(outside)} not re-tested (still open), {len(inside)} still found"
    assert f"since the baseline: {expected}" in printed, printed[-2000:]
    assert "(not in this scan's probes)" in printed

    since = json.loads(again.read_text())["baseline"]
    assert since["fixed"] == [] and since["new"] == []
    assert set(since["not_retested"]) == outside and set(since["unchanged"]) == inside
    assert set(since["not_retested_reasons"].values()) == {"not in this scan's probes"}
    # the criticals of the first scan are all still open: found again, or carried as not re-tested
    still_open = [f["severity"] for f in since["carried"]] + [
        f["severity"] for f in json.loads(again.read_text())["findings"]
    ]
    assert Counter(still_open)["critical"] == Counter(f["severity"] for f in before)["critical"] > 0
