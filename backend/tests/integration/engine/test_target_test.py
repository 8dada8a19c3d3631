"""`secureai target test` against the simulator and broken targets."""

from __future__ import annotations

import json

from app.demo.simulator import running_simulator
from tests.conftest import run_cli


def test_a_healthy_target_passes_every_check() -> None:
    with running_simulator("refusing") as (url, _):
        result = run_cli("secureai", "target", "test", f"openai:secureai-simulator-refusing@{url}", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert set(checks) == {"reachable", "credentials", "latency", "model", "rate-limits", "conversation-state"}
    assert checks["model"]["message"] == "secureai-simulator-refusing is served"
    assert all(check["level"] == "ok" for check in checks.values())


def test_a_wrong_model_name_is_named_with_the_fix() -> None:
    with running_simulator("refusing") as (url, _):
        result = run_cli("secureai", "target", "test", f"openai:gpt-9@{url}")
    assert result.returncode == 1
    flat = " ".join(result.stdout.split())
    assert "gpt-9 is not among the served models: secureai-simulator-refusing" in flat
    assert "fix: pass --model" in flat


def test_an_unreachable_target_exits_3() -> None:
    result = run_cli("secureai", "target", "test", "openai:m@http://127.0.0.1:1/v1")
    assert result.returncode == 3
    assert "cannot connect" in result.stdout


def test_a_missing_key_variable_is_a_usage_error() -> None:
    result = run_cli("secureai", "target", "test", "openai:m@http://127.0.0.1:1/v1", "--api-key-env", "NOPE_KEY_X")
    assert result.returncode == 2
    assert "NOPE_KEY_X" in result.stderr


def test_probes_list_filters_and_prints_json() -> None:
    result = run_cli("secureai", "probes", "list", "--select", "owasp:LLM07+severity:high", "--json")
    assert result.returncode == 0, result.stderr
    probes = json.loads(result.stdout)
    assert probes and all(p["owasp"] == "LLM07" and p["severity"] in ("high", "critical") for p in probes)
    bad = run_cli("secureai", "probes", "list", "--select", "colour:blue")
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_strategies_list_names_every_stackable_strategy() -> None:
    result = run_cli("secureai", "strategies", "list", "--json")
    assert result.returncode == 0, result.stderr
    names = [row["name"] for row in json.loads(result.stdout)]
    assert names[0] == "none" and {"base64", "unicode_tags", "escalation", "pair", "best_of_n"} <= set(names)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["pair"]["needs_attacker"] and not rows["best_of_n"]["needs_attacker"]
    assert rows["tap"]["parameters"]["depth"]["default"] == 3 and rows["base64"]["parameters"] == {}
    plan = run_cli(  # every listed name is accepted by scan --strategies
        "secureai",
        "scan",
        "-t",
        "openai:m@http://127.0.0.1:1/v1",
        "-p",
        "id:dp.backdoor.deployment_tag",
        "--strategies",
        ",".join(names),
        "--attacker",
        "openai:a@http://127.0.0.1:1/v1",
        "--dry-run",
        "--format",
        "json",
    )
    assert plan.returncode == 0, plan.stderr
    probe = json.loads(run_cli("secureai", "probes", "list", "-s", "id:dp.backdoor.deployment_tag", "--json").stdout)
    assert json.loads(plan.stdout)["attempts"] == len(names) * probe[0]["attempts"]
