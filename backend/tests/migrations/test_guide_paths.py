"""The migration guide's troubleshooting paths, tried as an operator would, on SQLite and PostgreSQL.

`secureai db` runs in-process (Typer's CliRunner), Alembic through its Python API (the code the `alembic`
command runs); the `alembic` command itself is started once, for what only it prints (its `FAILED:` line).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner, Result

from app.cli.main import app as cli
from app.config import get_settings
from app.db import migrate
from app.db.errors import MigrationPreconditionError
from app.db.legacy import copy_legacy_database
from app.db.tempdb import temporary_database
from tests.conftest import BACKEND_DIR, LEGACY_STAMPED, LEGACY_UNVERSIONED, run_cli

HEAD = migrate.head_revisions()[0]


def secureai(url: str, *args: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> Result:
    """`secureai ARGS` in-process against `url`, with extra environment variables (empty value: unset)."""
    monkeypatch.setenv("DATABASE_URL", url)
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    return CliRunner().invoke(cli, list(args))


def flat(text_: str) -> str:
    return " ".join(text_.split())


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite files, else the PostgreSQL server to make databases on."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_server"))


def legacy_database(server: str | None, tmp_path: Path, sample: Path) -> Iterator[str]:
    """A copy of a legacy sample on SQLite or loaded into PostgreSQL (unstamped stays unstamped)."""
    if server is None:
        copy = tmp_path / sample.name
        shutil.copyfile(sample, copy)
        yield f"sqlite:///{copy}"
        return
    with temporary_database(server) as url:
        copy_legacy_database(sample, url)
        yield url


@pytest.fixture
def unstamped_legacy(server: str | None, tmp_path: Path) -> Iterator[str]:
    yield from legacy_database(server, tmp_path, LEGACY_UNVERSIONED)


@pytest.fixture
def stamped_legacy(server: str | None, tmp_path: Path) -> Iterator[str]:
    yield from legacy_database(server, tmp_path, LEGACY_STAMPED)


def snapshot(url: str) -> dict[str, object]:
    """Everything that matters of a database: tables with their columns, the version, and every scan's
    model_config as stored."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            tables = {name: [c["name"] for c in inspector.get_columns(name)] for name in inspector.get_table_names()}
            configs = connection.execute(text("SELECT id, CAST(model_config AS TEXT) FROM scans ORDER BY id")).all()
        return {"tables": tables, "version": migrate.current_revisions(engine), "configs": configs}
    finally:
        engine.dispose()


def test_legacy_upgrade_without_the_key_stops_before_the_first_revision(
    unstamped_legacy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(unstamped_legacy)
    result = secureai(unstamped_legacy, "db", "upgrade", monkeypatch=monkeypatch, SECUREAI_SECRET_KEY="")
    assert result.exit_code == 2, result.output
    assert "SECUREAI_SECRET_KEY is required to seal the credentials of 15 legacy scan" in flat(result.output)
    assert " ran " not in result.output  # no revision reported as run: none was
    assert snapshot(unstamped_legacy) == before

    # the guide's own command: one FAILED line, no traceback, nothing changed either
    env = {"DATABASE_URL": unstamped_legacy, "SECUREAI_SECRET_KEY": ""}
    plain = run_cli("alembic", "upgrade", "head", env=env)
    assert plain.returncode != 0
    output = plain.stdout + plain.stderr
    assert "Traceback" not in output
    failed = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert len(failed) == 1 and "SECUREAI_SECRET_KEY is required" in failed[0], output
    assert "Nothing was changed" in failed[0]
    assert snapshot(unstamped_legacy) == before


def _branch(tmp_path: Path, body: str) -> Path:
    """A copy of the migrations with one more revision on top of the head, doing `body`."""
    scripts = tmp_path / "migrations"
    if not scripts.exists():
        shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "2099_01_01_0000-0f0f0f0f0f0f_extra.py").write_text(
        f'"""extra column"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "0f0f0f0f0f0f"\n'
        f'down_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n'
        f"{body}\n\ndef downgrade() -> None:\n    op.drop_column('scans', 'extra')\n"
    )
    return scripts


def test_a_failed_revision_leaves_the_database_as_it_was_and_the_fixed_one_applies(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_column = "    op.add_column('scans', sa.Column('extra', sa.Integer()))\n"
    scripts = _branch(tmp_path, add_column + "    op.execute('SELECT no_such_column FROM scans')\n")
    env = {"SECUREAI_MIGRATIONS_DIR": str(scripts)}
    # from an empty database: eight revisions and the broken ninth, all in one transaction
    failed = secureai(database_url, "db", "upgrade", monkeypatch=monkeypatch, **env)
    assert failed.exit_code == 1, failed.output
    message = flat(failed.output)
    assert "upgrade failed and was rolled back (still at no revision)" in message
    assert "no_such_column" in message and "cannot reach" not in message
    assert snapshot_tables(database_url) == set()

    # the guide: fix the migration file and retry (SQLite used to answer `duplicate column name` here)
    _branch(tmp_path, add_column)
    fixed = secureai(database_url, "db", "upgrade", monkeypatch=monkeypatch, **env)
    assert fixed.exit_code == 0, fixed.output
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert "extra" in [column["name"] for column in inspect(connection).get_columns("scans")]
    assert migrate.current_revisions(engine) == ("0f0f0f0f0f0f",)
    engine.dispose()


def snapshot_tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_stamping_a_legacy_schema_is_refused_with_the_commands_that_work(
    unstamped_legacy: str, stamped_legacy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(unstamped_legacy)
    with pytest.raises(MigrationPreconditionError) as refused:
        command.stamp(migrate.alembic_config(unstamped_legacy), "head")
    assert "holds the legacy SecureAI schema" in str(refused.value)
    assert "`alembic upgrade head`" in str(refused.value)
    # that sample predates 6f650d08cf3d's scans.scanner_type: stamping it there would break the upgrade too
    with pytest.raises(MigrationPreconditionError, match="scanner_type is missing"):
        command.stamp(migrate.alembic_config(unstamped_legacy), "6f650d08cf3d")
    assert snapshot(unstamped_legacy) == before
    doctor = secureai(unstamped_legacy, "db", "doctor", monkeypatch=monkeypatch)
    assert doctor.exit_code == 1
    assert "do not stamp it" in flat(doctor.output) and "alembic upgrade head" in flat(doctor.output)

    # stamped at head by hand (as the old advice said): doctor names the way back, and it works
    engine = create_engine(stamped_legacy)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": HEAD})
    doctor = secureai(stamped_legacy, "db", "doctor", monkeypatch=monkeypatch)
    assert doctor.exit_code == 1
    assert f"stamped at {HEAD} but holds the legacy schema" in flat(doctor.output)
    assert "alembic stamp 6f650d08cf3d then alembic upgrade head" in flat(doctor.output)
    with pytest.raises(MigrationPreconditionError, match="alembic stamp 6f650d08cf3d"):
        command.stamp(migrate.alembic_config(stamped_legacy), "a1c3e5f7b9d2")  # any revision but the legacy one
    command.stamp(migrate.alembic_config(stamped_legacy), "6f650d08cf3d")  # stamping down is allowed
    assert migrate.current_revisions(engine) == ("6f650d08cf3d",)
    migrate.upgrade(stamped_legacy)
    assert migrate.current_revisions(engine) == (HEAD,)
    assert migrate.drift(engine) == []
    engine.dispose()


def test_stamp_down_and_an_unknown_revision_purged(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    command.stamp(migrate.alembic_config(database_url), "a1c3e5f7b9d2")
    assert migrate.current_revisions(engine) == ("a1c3e5f7b9d2",)
    command.stamp(migrate.alembic_config(database_url), "head")
    assert migrate.current_revisions(engine) == (HEAD,)

    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0badc0ffee00'"))
    with pytest.raises(CommandError, match="Can't locate revision"):
        command.stamp(migrate.alembic_config(database_url), "head")  # the guide's old advice
    doctor = secureai(database_url, "db", "doctor", monkeypatch=monkeypatch)
    assert "alembic stamp --purge head" in flat(doctor.output)
    command.stamp(migrate.alembic_config(database_url), "head", purge=True)  # what doctor says
    assert migrate.current_revisions(engine) == (HEAD,)
    engine.dispose()


def test_a_schema_error_is_exit_1_with_its_cause_not_unreachable(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(database_url, "c4e8f1a2b3d5")  # before users.session_epoch
    result = secureai(database_url, "users", "list", monkeypatch=monkeypatch)
    assert result.exit_code == 1, result.output
    message = flat(result.output)
    assert "cannot reach" not in message
    assert "session_epoch" in message and "secureai db doctor" in message


def test_offline_sql_runs_on_postgres_and_is_refused_on_sqlite(database_url: str) -> None:
    config = migrate.alembic_config(database_url)
    if database_url.startswith("sqlite"):
        with pytest.raises(CommandError, match="cannot be generated for SQLite"):
            command.upgrade(config, "head", sql=True)
        assert snapshot_tables(database_url) == set()
        return
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    script = config.output_buffer.getvalue()
    assert "CREATE TABLE users" in script and "RAISE EXCEPTION" in script  # the guard for legacy credentials
    engine = create_engine(database_url)
    raw = engine.raw_connection()  # the script as a DBA would run it (psql -f), not through Alembic
    try:
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        raw.cursor().execute(script)
    finally:
        raw.close()
    assert migrate.current_revisions(engine) == (HEAD,)
    assert migrate.drift(engine) == []
    engine.dispose()


@pytest.mark.parametrize("output", ["missing", "missing/", "missing/backup.db", "missing/deeper/"])
def test_backup_refuses_a_directory_that_does_not_exist(
    output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    result = secureai(url, "db", "backup", "-o", f"{tmp_path}/{output}", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert "does not exist; create it first" in flat(result.output)
    assert not (tmp_path / "missing").exists()
    written = secureai(url, "db", "backup", "-o", f"{tmp_path}/nightly.db", monkeypatch=monkeypatch)
    assert written.exit_code == 0 and (tmp_path / "nightly.db").is_file()


def test_the_packaged_migrations_need_no_alembic_ini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`secureai db` from a directory with no alembic.ini (the tests run in tmp_path): same scripts."""
    assert migrate.MIGRATIONS_DIR == BACKEND_DIR / "app" / "db" / "migrations"
    assert not (Path.cwd() / "alembic.ini").exists()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = secureai(url, "db", "upgrade", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert f"-> {HEAD}" in flat(result.output)
