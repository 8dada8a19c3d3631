"""Every command of the migration guide, run as a subprocess from backend/ as a user would, on both servers."""

from __future__ import annotations

import ast
import configparser
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKEND_DIR, LEGACY_UNVERSIONED, run_cli

REVISIONS = (
    "6f650d08cf3d",
    "a1c3e5f7b9d2",
    "64971bd2b79a",
    "c4e8f1a2b3d5",
    "db56de41ac40",
    "7b2e9c4d1f60",
    "d86294de60a6",
    "f8885e0a3b7a",
)
HEAD = REVISIONS[-1]


def alembic(url: str, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ("-c", str(config)) if config else ()
    return run_cli("alembic", *extra, *args, env={"DATABASE_URL": url})


def test_upgrade_current_history_heads_downgrade_stamp(database_url: str) -> None:
    upgraded = alembic(database_url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade  -> 6f650d08cf3d" in upgraded.stderr
    for older, newer in itertools.pairwise(REVISIONS):
        assert f"Running upgrade {older} -> {newer}" in upgraded.stderr

    current = alembic(database_url, "current")
    assert f"{HEAD} (head)" in current.stdout

    history = alembic(database_url, "history")
    assert f"{REVISIONS[-2]} -> {HEAD} (head)" in history.stdout
    assert "<base> -> 6f650d08cf3d, Initial migration - create all tables" in history.stdout

    heads = alembic(database_url, "heads")
    assert heads.stdout.split() == [HEAD, "(head)"]

    down = alembic(database_url, "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    assert alembic(database_url, "current").stdout.split() == [REVISIONS[-2]]
    # back to before the platform tables, so that the schema really differs from the head's
    assert alembic(database_url, "downgrade", "a1c3e5f7b9d2").returncode == 0

    stamped = alembic(database_url, "stamp", "head")
    assert stamped.returncode == 0, stamped.stderr
    assert f"{HEAD} (head)" in alembic(database_url, "current").stdout
    # the stamp only wrote the version: the schema is still a1c3e5f7b9d2's, and check says so
    drifted = alembic(database_url, "check")
    assert drifted.returncode != 0
    assert "New upgrade operations detected" in drifted.stderr

    assert alembic(database_url, "stamp", "a1c3e5f7b9d2").returncode == 0
    assert alembic(database_url, "upgrade", "head").returncode == 0
    clean = alembic(database_url, "check")
    assert clean.returncode == 0, clean.stderr
    assert "No new upgrade operations detected" in clean.stdout + clean.stderr


def test_autogenerate_against_head_writes_an_empty_migration(database_url: str, tmp_path: Path) -> None:
    """In a copy of the script directory, so the real versions/ never sees the generated file."""
    scripts = tmp_path / "migrations"
    shutil.copytree(BACKEND_DIR / "app" / "db" / "migrations", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(BACKEND_DIR / "alembic.ini")
    parser["alembic"]["script_location"] = str(scripts)
    parser["alembic"]["prepend_sys_path"] = str(BACKEND_DIR)
    parser.remove_section("post_write_hooks")
    config = tmp_path / "alembic.ini"
    with config.open("w") as handle:
        parser.write(handle)

    assert alembic(database_url, "upgrade", "head", config=config).returncode == 0
    generated = alembic(database_url, "revision", "--autogenerate", "-m", "nothing changed", config=config)
    assert generated.returncode == 0, generated.stderr

    new_files = [path for path in (scripts / "versions").glob("*.py") if "nothing_changed" in path.name]
    assert len(new_files) == 1
    assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-[0-9a-f]{12}_nothing_changed\.py", new_files[0].name)
    functions = {
        node.name: node for node in ast.parse(new_files[0].read_text()).body if isinstance(node, ast.FunctionDef)
    }
    for name in ("upgrade", "downgrade"):
        statements = [node for node in functions[name].body if not isinstance(node, ast.Expr)]  # minus docstring
        assert [type(node) for node in statements] == [ast.Pass], f"{name}() is not empty"


def test_secureai_db_commands(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "SECUREAI_DATA_DIR": str(tmp_path / "data")}

    upgraded = run_cli("secureai", "db", "upgrade", "--backup", "--json", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    report = json.loads(upgraded.stdout)
    assert report["from"] == [] and report["to"] == [HEAD] and len(report["steps"]) == len(REVISIONS)
    assert Path(report["backup"]).is_file()

    current = json.loads(run_cli("secureai", "db", "current", "--json", env=env).stdout)
    assert current["at_head"] is True and current["current"] == [HEAD]

    history = json.loads(run_cli("secureai", "db", "history", "--json", env=env).stdout)
    assert [item["revision"] for item in history] == list(reversed(REVISIONS))

    assert run_cli("secureai", "db", "check", env=env).returncode == 0
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE scans ADD COLUMN surprise INTEGER"))
    drift = run_cli("secureai", "db", "check", env=env)
    assert drift.returncode == 1
    assert "surprise" in drift.stderr
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE scans DROP COLUMN surprise"))
    engine.dispose()

    backup = run_cli("secureai", "db", "backup", "-o", str(tmp_path / "b.bak"), "--json", env=env)
    assert backup.returncode == 0, backup.stderr
    header = (tmp_path / "b.bak").read_bytes()[:16]
    assert header.startswith(b"SQLite format 3" if database_url.startswith("sqlite") else b"PGDMP")

    down = run_cli("secureai", "db", "downgrade", "-1", env=env)
    assert down.returncode == 0, down.stderr
    assert f"downgraded {HEAD} -> {REVISIONS[-2]}" in " ".join(down.stdout.split())
    doctor = run_cli("secureai", "db", "doctor", env=env)
    assert doctor.returncode == 1
    assert "behind the head" in doctor.stdout and "secureai db upgrade --backup" in doctor.stdout

    again = run_cli("secureai", "db", "upgrade", env=env)
    assert again.returncode == 0
    healthy = run_cli("secureai", "db", "doctor", "--json", env=env)
    assert healthy.returncode == 0, healthy.stdout
    assert json.loads(healthy.stdout)["status"] == "ok"


def test_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    unknown = run_cli("secureai", "db", "upgrade", "feedfacecafe", env=env)
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stderr
    assert "feedfacecafe" in unknown.stderr

    nothing = run_cli("secureai", "db", "downgrade", "-1", env=env)
    assert nothing.returncode == 1
    assert "no revision to downgrade from" in nothing.stderr

    no_command = run_cli("secureai", "db", "frobnicate", env=env)
    assert no_command.returncode == 2


@pytest.mark.parametrize("case", ["unknown-revision", "unstamped-legacy", "empty"])
def test_doctor_diagnoses(case: str, tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    if case == "unstamped-legacy":
        shutil.copyfile(LEGACY_UNVERSIONED, database)
        expected = ("legacy SecureAI database without an Alembic stamp", "secureai db upgrade --backup")
    elif case == "unknown-revision":
        assert run_cli("secureai", "db", "upgrade", env=env).returncode == 0
        engine = create_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0badc0ffee00'"))
        engine.dispose()
        expected = ("0badc0ffee00, which this version of SecureAI does not know", "alembic stamp --purge head")
    else:
        expected = ("empty database", "secureai db upgrade")
    doctor = run_cli("secureai", "db", "doctor", env=env)
    flat = " ".join(doctor.stdout.split())
    assert doctor.returncode == 1
    for text_ in expected:
        assert text_ in flat


def test_doctor_reports_several_heads(tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(BACKEND_DIR / "app" / "db" / "migrations", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "2026_01_01_0000-0123456789ab_branch.py").write_text(
        '"""a second branch"""\nrevision = "0123456789ab"\ndown_revision = "6f650d08cf3d"\n'
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    pass\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECUREAI_MIGRATIONS_DIR": str(scripts)}
    doctor = run_cli("secureai", "db", "doctor", env=env)
    flat = " ".join(doctor.stdout.split())
    assert doctor.returncode == 1
    assert "the migrations have 2 heads" in flat
    assert 'alembic merge heads -m "merge heads"' in flat


def test_doctor_and_commands_on_an_unreachable_database() -> None:
    env = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    doctor = run_cli("secureai", "db", "doctor", env=env)
    assert doctor.returncode == 3
    assert "cannot connect to" in doctor.stdout
    upgrade = run_cli("secureai", "db", "upgrade", env=env)
    assert upgrade.returncode == 3
    assert upgrade.stderr.count("\n") <= 3 and "Traceback" not in upgrade.stderr
    assert "cannot reach the database" in upgrade.stderr


def test_backup_of_postgres_without_pg_dump(postgres_server: str, tmp_path: Path) -> None:
    """The message when pg_dump is missing: run with a PATH that has no pg_dump on it."""
    env = {"DATABASE_URL": postgres_server, "PATH": str(tmp_path)}
    result = run_cli("secureai", "db", "backup", "-o", str(tmp_path / "x.dump"), env=env)
    assert result.returncode == 1
    assert "pg_dump is not installed" in " ".join(result.stderr.split())
