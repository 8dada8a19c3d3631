"""Revision 64971bd2b79a: platform tables beside the legacy ones, and an append-only audit log on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import migrate

PLATFORM_TABLES = {"targets", "attempts", "finding_triage", "refresh_tokens", "api_tokens", "login_throttles"}


def _audit_row(connection: object) -> None:
    connection.execute(  # type: ignore[attr-defined]
        text("INSERT INTO audit_logs (action, created_at) VALUES ('login_success', CURRENT_TIMESTAMP)")
    )


def test_upgrade_adds_the_platform_tables_and_downgrade_removes_them(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) >= PLATFORM_TABLES
    assert {"target_id", "options", "heartbeat_at"} <= {c["name"] for c in inspect(engine).get_columns("scans")}
    with engine.begin() as connection:  # one attempt per (scan, key): a resumed scan cannot record one twice
        connection.execute(
            text(
                "INSERT INTO users (username, email, hashed_password, role) VALUES ('u', 'u@example.org', 'x', 'admin')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO scans (name, model_name, model_type, scanner_type, status, created_by) "
                "VALUES ('s', 'm', 'openai', 'builtin', 'pending', 1)"
            )
        )
    insert_attempt = text(
        "INSERT INTO attempts (scan_id, key, probe_id, prompt_index, strategies, repeat, outcome, turns, verdicts, "
        "requests_made, extra, created_at) VALUES (1, 'p:0:none:0', 'p', 0, 'none', 0, 'safe', '[]', '[]', 1, "
        "'{}', CURRENT_TIMESTAMP)"
    )
    with engine.begin() as connection:
        connection.execute(insert_attempt)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert_attempt)
    engine.dispose()
    migrate.downgrade(database_url, "a1c3e5f7b9d2")
    engine = create_engine(database_url)
    assert not PLATFORM_TABLES & set(inspect(engine).get_table_names())
    assert "target_id" not in {c["name"] for c in inspect(engine).get_columns("scans")}
    engine.dispose()


def test_postgresql_refuses_update_and_delete_of_audit_rows(postgres_server: str) -> None:
    from app.db.tempdb import temporary_database

    with temporary_database(postgres_server) as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.begin() as connection:
            _audit_row(connection)
        for statement in ("UPDATE audit_logs SET action = 'forged'", "DELETE FROM audit_logs"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT action FROM audit_logs")).scalar_one() == "login_success"
        engine.dispose()
        migrate.downgrade(url, "a1c3e5f7b9d2")  # the trigger goes with the revision
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_logs"))
        engine.dispose()
