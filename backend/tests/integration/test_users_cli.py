"""`secureai users` in-process (CliRunner) against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from app.auth import service
from app.cli.users import app
from app.config import get_settings
from app.db.enums import UserRole
from app.db.migrate import upgrade
from app.db.models import User
from app.db.session import make_engine

PASSWORD = "Sturdy-Passphrase-42"
OTHER_PASSWORD = "Another-Passphrase-77"


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECUREAI_SECRET_KEY", "xw2QNl3hqChasRitqtWFzIGzyRxJ6zlssZFy8Kmrpqmh1MKylU6WbYRQikV_geqw")
    return database_url


def run(*args: str, stdin: str | None = None) -> Result:
    get_settings.cache_clear()  # settings come from the environment, which the test set
    return CliRunner().invoke(app, list(args), input=stdin)


def run_json(*args: str, stdin: str | None = None) -> Any:
    result = run(*args, "--json", stdin=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and text in result.stderr and "Traceback" not in result.output


def users_in(url: str) -> dict[str, User]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return {user.username: user for user in session.scalars(select(User))}
    finally:
        engine.dispose()


def can_log_in(url: str, username: str, password: str) -> bool:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            try:
                service.authenticate_password(session, username, password)
            except service.AuthError:
                return False
            finally:
                session.commit()
            return True
    finally:
        engine.dispose()


def test_bootstrap_admin_creates_the_first_admin_and_then_refuses(database: str) -> None:
    created = run_json("bootstrap-admin", "--email", "ops@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert (created["username"], created["role"], created["active"]) == ("admin", "admin", True)
    assert can_log_in(database, "admin", PASSWORD)
    again = run("bootstrap-admin", "--username", "root", "--email", "root@example.com")  # no input: never prompted
    one_line_error(again, 1, "an administrator already exists")
    assert "Password" not in again.output
    assert set(users_in(database)) == {"admin"}


def test_create_reads_the_password_from_stdin_and_never_prints_it(database: str) -> None:
    result = run(
        "create", "alice", "--email", "alice@example.com", "--role", "analyst", "--full-name", "Alice A",
        "--password-stdin", "--json", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert (created["username"], created["role"], created["full_name"]) == ("alice", "analyst", "Alice A")
    assert PASSWORD not in result.output and "hashed_password" not in result.stdout
    assert can_log_in(database, "alice", PASSWORD)
    listed = run_json("list")
    assert [(user["username"], user["role"], user["active"]) for user in listed] == [("alice", "analyst", True)]
    assert "$argon2" not in json.dumps(listed)
    table = run("list")
    assert table.exit_code == 0 and "alice@example.com" in table.stdout and "never" not in table.stdout


def test_create_prompts_twice_with_hidden_input(database: str) -> None:
    result = run("create", "bob", "--email", "bob@example.com", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert users_in(database)["bob"].role == UserRole.VIEWER  # least privilege unless asked
    one_line_error(run("create", "carol", "--email", "carol@example.com", stdin=""), 2, "no password was entered")
    mismatch = run("create", "carol", "--email", "carol@example.com", stdin=f"{PASSWORD}\n{OTHER_PASSWORD}\n")
    one_line_error(mismatch, 2, "the two passwords differ")
    assert "carol" not in users_in(database)


def test_refusals_are_one_line_errors_with_exit_codes(database: str) -> None:
    run_json("create", "alice", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD)
    duplicate = run("create", "Alice", "--email", "a2@example.com", "--password-stdin", stdin=PASSWORD)
    one_line_error(duplicate, 1, "already exists")
    weak = run("create", "dave", "--email", "dave@example.com", "--password-stdin", stdin="short\n")
    one_line_error(weak, 2, "the password must be at least 12 characters long")
    bad_name = run("create", "dave smith", "--email", "dave@example.com", "--password-stdin", stdin=PASSWORD)
    one_line_error(bad_name, 2, "a username is 1 to 50 characters")
    empty = run("create", "dave", "--email", "dave@example.com", "--password-stdin", stdin="")
    one_line_error(empty, 2, "standard input holds no password")
    assert run("create", "dave", "--email", "d@example.com", "--role", "root").exit_code == 2  # Typer's usage error
    one_line_error(run("set-role", "nobody", "admin"), 1, "no user named 'nobody'")
    assert set(users_in(database)) == {"alice"}


def test_set_role_disable_enable_and_the_last_admin(database: str) -> None:
    run_json("bootstrap-admin", "--username", "root", "--email", "root@example.com", "--password-stdin", stdin=PASSWORD)
    run_json("create", "alice", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD)
    assert run_json("set-role", "alice", "auditor") == {
        "username": "alice",
        "old_role": "viewer",
        "new_role": "auditor",
    }
    one_line_error(run("set-role", "root", "viewer"), 1, "'root' is the last active administrator")
    one_line_error(run("disable", "root"), 1, "last active administrator")
    assert can_log_in(database, "alice", PASSWORD)
    disabled = run_json("disable", "alice")
    assert disabled == {"username": "alice", "was_active": True, "refresh_tokens_revoked": 1, "api_tokens_revoked": 0}
    assert not can_log_in(database, "alice", PASSWORD)
    assert run_json("list")[1]["active"] is False
    assert run_json("enable", "alice") == {"username": "alice", "was_disabled": True}
    assert can_log_in(database, "alice", PASSWORD)


def test_reset_password_replaces_the_password_and_ends_sessions(database: str) -> None:
    run_json("create", "alice", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD)
    assert can_log_in(database, "alice", PASSWORD)
    reset = run("reset-password", "alice", "--password-stdin", "--json", stdin=OTHER_PASSWORD + "\r\n")
    assert reset.exit_code == 0, reset.output
    assert json.loads(reset.stdout) == {"username": "alice", "sessions_revoked": 1}
    assert OTHER_PASSWORD not in reset.output
    assert not can_log_in(database, "alice", PASSWORD)
    assert can_log_in(database, "alice", OTHER_PASSWORD)
    one_line_error(run("reset-password", "nobody", "--password-stdin", stdin=PASSWORD), 1, "no user named")


def test_an_unmigrated_database_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    one_line_error(run("list"), 1, "run `secureai db upgrade` first")


def test_an_unreachable_database_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    one_line_error(run("list", "--json"), 3, "cannot reach the database")


def test_every_account_change_from_the_cli_is_in_the_audit_chain(database: str) -> None:
    from app.audit.verify import verify_chain
    from app.db.models import AuditLog

    run_json("bootstrap-admin", "--email", "ops@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    run_json("create", "bob", "--email", "bob@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    run_json("set-role", "bob", "analyst")
    run_json("disable", "bob")
    run_json("enable", "bob")
    run_json("reset-password", "bob", "--password-stdin", stdin=OTHER_PASSWORD + "\n")
    engine = make_engine(database)
    with Session(engine) as session:
        rows = list(session.scalars(select(AuditLog).order_by(AuditLog.id)))
        assert [row.action for row in rows] == [
            "user_create",
            "user_create",
            "user_update",
            "user_update",
            "user_update",
            "user_password_reset",
        ]
        assert all(row.details and row.details["via"] == "cli" for row in rows)
        assert rows[2].details and rows[2].details["role"] == ["viewer", "analyst"]
        assert verify_chain(session).ok
        assert PASSWORD not in str([row.details for row in rows]) and OTHER_PASSWORD not in str(rows[-1].details)
    engine.dispose()
