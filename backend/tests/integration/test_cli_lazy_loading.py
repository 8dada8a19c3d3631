"""The `secureai` command loads a sub-command's module only when it runs (issue 16): `--version` and `--help` load
none of them, `scan --dry-run` loads the scanner but not the database, the server or the report renderers. The
registry in app/cli/main.py is the one place commands are listed; it checks itself against the commands' own
help."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli.main import COMMANDS, app, load
from tests.conftest import BACKEND_DIR

# what a user sees in `secureai --help`, restated here rather than read from the registry
EXPECTED_COMMANDS = [
    "scan",
    "report",
    "rescore",
    "worker",
    "serve",
    "start",
    "demo",
    "demo-target",
    "demo-model",
    "db",
    "probes",
    "strategies",
    "target",
    "import",
    "mcp",
    "compliance",
    "secrets",
    "audit",
    "users",
    "judge",
    "triage",
]

# loaded by no start-up that only prints: the database, the server, the scanner, the renderers, Rich
NEVER_FOR_VERSION_OR_HELP = ["sqlalchemy", "fastapi", "alembic", "httpx", "rich", "pydantic", "app.engine", "app.db"]
# loaded by no scan: the platform's layers and the heavy renderers
NEVER_FOR_A_SCAN = [
    "sqlalchemy",
    "fastapi",
    "starlette",
    "alembic",
    "celery",
    "weasyprint",
    "app.db",
    "app.api",
    "app.web",
    "app.jobs",
    "app.crud",
]


def _modules_loaded_by(*args: str) -> set[str]:
    """The modules a fresh `secureai ARGS` process has loaded when it exits."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('\\nMODULES ' + json.dumps(sorted(sys.modules))))\n"
        "from app.cli.main import app\n"
        f"sys.argv = ['secureai', *{list(args)!r}]\n"
        "app()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=BACKEND_DIR, capture_output=True, text=True, timeout=120)
    line = next((line for line in done.stdout.splitlines() if line.startswith("MODULES ")), None)
    assert line is not None, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return set(json.loads(line.removeprefix("MODULES ")))


def _under(modules: set[str], package: str) -> list[str]:
    return sorted(name for name in modules if name == package or name.startswith(package + "."))


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_version_and_help_load_no_sub_command(args: tuple[str, ...]) -> None:
    modules = _modules_loaded_by(*args)
    assert not [name for name in modules if name.startswith("app.cli.") and name != "app.cli.main"]
    for package in NEVER_FOR_VERSION_OR_HELP:
        assert not _under(modules, package), package


def test_a_dry_run_scan_loads_the_scanner_only() -> None:
    modules = _modules_loaded_by(
        "scan", "-t", "openai:m@http://127.0.0.1:9/v1", "-p", "owasp:LLM07", "--dry-run", "--format", "json"
    )
    assert "app.cli.scan" in modules and "app.engine.plan" in modules
    for package in NEVER_FOR_A_SCAN:
        assert not _under(modules, package), (package, _under(modules, package)[:5])


def test_help_lists_every_command_with_its_summary() -> None:
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    listed = re.findall(r"^  (\S+)\s{2,}(.+)$", shown.output.split("Commands:", 1)[1], re.MULTILINE)
    assert [name for name, _ in listed] == EXPECTED_COMMANDS
    assert dict(listed)["scan"] == "Attack TARGET with the selected probes."


@pytest.mark.parametrize("name", EXPECTED_COMMANDS)
def test_each_registered_command_loads_and_its_summary_comes_from_its_help(name: str) -> None:
    command = load(name)
    assert command.name == name
    words = lambda text: set(re.findall(r"[a-z0-9]+", text.lower()))  # noqa: E731
    missing = words(COMMANDS[name].summary) - words(command.help or "")
    assert not missing, f"`secureai --help` says words {sorted(missing)} that `secureai {name} --help` does not"
    shown = CliRunner().invoke(app, [name, "--help"])
    assert shown.exit_code == 0 and f"secureai {name}" in shown.output, shown.output


def test_a_group_of_one_command_stays_a_group() -> None:
    # `secureai strategies list`: a sub-app holding a single command must not collapse into it
    listed = CliRunner().invoke(app, ["strategies", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)


def test_an_unknown_command_is_one_clear_error() -> None:
    shown = CliRunner().invoke(app, ["scna"])
    assert shown.exit_code == 2 and "No such command 'scna'" in shown.output
