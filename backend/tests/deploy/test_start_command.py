"""`secureai start` in-process: giving up on a database or broker that never answers (exit 3, no password shown),
and SECUREAI_MIGRATE_ON_START deciding whether the migrations run before it serves (the server itself is
recorded instead of started; tests/deploy/test_startup_processes.py runs the whole command for real)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.db.migrate import current_revisions, head_revisions


def test_gives_up_on_an_unreachable_database_without_showing_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://secureai:hunter2-db-password@127.0.0.1:1/secureai")
    result = CliRunner().invoke(cli, ["start", "--wait", "0.5"])
    assert result.exit_code == 3
    assert "waiting for the database postgresql+psycopg://secureai:***@127.0.0.1:1/secureai" in result.output
    assert "gave up waiting for the database" in result.output
    assert "hunter2-db-password" not in result.output


def test_gives_up_on_an_unreachable_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECUREAI_QUEUE", "celery")
    monkeypatch.setenv("SECUREAI_BROKER_URL", "redis://:hunter2-broker@127.0.0.1:1/0")
    result = CliRunner().invoke(cli, ["start", "--wait", "0"])  # one try each
    assert result.exit_code == 3
    assert "is up" in result.output  # the embedded SQLite database
    assert "gave up waiting for the broker redis://:***@127.0.0.1:1/0" in result.output
    assert "hunter2-broker" not in result.output


@pytest.mark.parametrize(
    ("setting", "args", "migrated"), [(None, [], True), ("0", [], False), ("0", ["--migrate"], True)]
)
def test_migrations_run_at_start_unless_told_not_to(
    setting: str | None, args: list[str], migrated: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting is not None:
        monkeypatch.setenv("SECUREAI_MIGRATE_ON_START", setting)
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append({"app": app, **options}))
    result = CliRunner().invoke(cli, ["start", "--host", "0.0.0.0", "--port", "8123", *args])
    assert result.exit_code == 0, result.output
    assert served == [{"app": "app.main:app", "host": "0.0.0.0", "port": 8123, "log_level": "info"}]
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'secureai.db'}")
    try:
        if migrated:
            assert set(current_revisions(engine)) == set(head_revisions())
        else:
            assert inspect(engine).get_table_names() == []
            assert "migrations not applied at start" in result.output
    finally:
        engine.dispose()
