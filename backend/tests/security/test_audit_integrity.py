"""The audit log cannot be emptied unnoticed, and refusals leave a (rate-limited) trace in it.

- PostgreSQL refuses `TRUNCATE audit_logs` as it refuses UPDATE and DELETE (revision db56de41ac40).
- `secureai audit verify --anchor-file F` fails when the chain got shorter than at the last verification or lost
  the hash it ended with, which an attacker able to bypass the trigger (or any SQLite user) could otherwise do.
- A refused API token (401), a permission denial (403, API and dashboard) and a failed CSRF check are audited,
  at most `refusals.LIMIT` records per kind and source per minute plus one `audit_suppressed`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit import refusals
from app.audit.log import record
from app.db import migrate
from app.db.enums import UserRole
from app.db.models import AuditLog
from tests.conftest import run_cli
from tests.integration.api.conftest import Api
from tests.integration.web.conftest import Web


def _write_rows(url: str, count: int) -> None:
    engine = create_engine(url)
    with Session(engine) as session:
        for number in range(count):
            record(session, "login_success", details={"n": number})
            session.commit()
    engine.dispose()


def _actions(url: str) -> list[tuple[str, dict[str, object] | None]]:
    engine = create_engine(url)
    with Session(engine) as session:
        rows = [(row.action, row.details) for row in session.query(AuditLog).order_by(AuditLog.id)]
    engine.dispose()
    return rows


def _remove_rows(url: str, statement: str) -> None:
    """What an attacker with the table owner's rights does: on PostgreSQL, switch the triggers off first."""
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        connection.execute(text(statement))
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_logs ENABLE TRIGGER USER"))
    engine.dispose()


def _verify(url: str, anchor: Path) -> tuple[int, str]:
    result = run_cli("secureai", "audit", "verify", "--anchor-file", str(anchor), env={"DATABASE_URL": url})
    assert "Traceback" not in result.stderr
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def test_postgresql_refuses_truncate_of_the_audit_log(postgres_server: str) -> None:
    from app.db.tempdb import temporary_database

    with temporary_database(postgres_server) as url:
        migrate.upgrade(url)
        _write_rows(url, 2)
        engine = create_engine(url)
        for statement in (
            "TRUNCATE audit_logs",
            "TRUNCATE audit_logs RESTART IDENTITY CASCADE",
            "TRUNCATE users CASCADE",
        ):
            with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"), engine.begin() as connection:
                connection.execute(text(statement))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_logs")).scalar_one() == 2
        engine.dispose()
        migrate.downgrade(url, "c4e8f1a2b3d5")  # the guard goes with its revision, and comes back with it
        engine = create_engine(url)
        with engine.begin() as connection:
            assert "audit_logs_no_truncate" not in connection.execute(text("SELECT tgname FROM pg_trigger")).scalars()
        engine.dispose()
        migrate.upgrade(url)
        engine = create_engine(url)
        with pytest.raises(DBAPIError, match="TRUNCATE refused"), engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_logs"))
        engine.dispose()


def test_an_emptied_or_cut_audit_log_fails_verification_against_the_anchor_file(
    database_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    _write_rows(database_url, 5)
    anchor = tmp_path / "audit-anchor.json"

    code, output = _verify(database_url, anchor)
    assert code == 0, output
    kept = json.loads(anchor.read_text())
    assert kept["chained_rows"] == 5 and len(kept["last_hash"]) == 64 and kept["verified_at"]
    _write_rows(database_url, 1)
    assert _verify(database_url, anchor)[0] == 0  # a longer chain holding the anchor is fine, and moves it
    assert json.loads(anchor.read_text())["chained_rows"] == 6

    _remove_rows(database_url, "DELETE FROM audit_logs WHERE id = (SELECT max(id) FROM audit_logs)")
    code, output = _verify(database_url, anchor)  # the chain alone is intact: one row shorter
    assert code == 1 and "anchor hash is not in the chain" in output, output
    assert json.loads(anchor.read_text())["chained_rows"] == 6  # a failed run leaves the anchor as it was

    _remove_rows(database_url, "DELETE FROM audit_logs")
    code, output = _verify(database_url, anchor)
    assert code == 1 and "anchor hash is not in the chain" in output, output
    plain = run_cli("secureai", "audit", "verify", env={"DATABASE_URL": database_url})
    assert plain.returncode == 0  # without the anchor, an empty log is all the chain can see


def test_a_chain_shorter_than_the_anchor_says_fails_even_if_it_holds_the_hash(
    database_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    _write_rows(database_url, 3)
    anchor = tmp_path / "anchor.json"
    assert _verify(database_url, anchor)[0] == 0
    kept = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**kept, "chained_rows": 4}))  # e.g. rows rebuilt with the same last hash
    code, output = _verify(database_url, anchor)
    assert code == 1 and "shorter than at the last verification" in output, output


def test_a_damaged_anchor_file_is_a_one_line_usage_error(database_url: str, tmp_path: Path) -> None:
    migrate.upgrade(database_url)
    anchor = tmp_path / "anchor.json"
    for content in ("not json", json.dumps({"version": 1, "chained_rows": "3"}), json.dumps([1])):
        anchor.write_text(content)
        code, output = _verify(database_url, anchor)
        assert code == 2 and "anchor file" in output, output
    both = run_cli(
        "secureai",
        "audit",
        "verify",
        "--anchor",
        "0" * 64,
        "--anchor-file",
        str(anchor),
        env={"DATABASE_URL": database_url},
    )
    assert both.returncode == 2 and "not both" in both.stderr


def test_refused_api_tokens_are_audited_without_the_secret_and_a_flood_is_capped(api: Api) -> None:
    refusals.reset()
    analyst = api.as_role(UserRole.ANALYST)
    made = api.client.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=analyst).json()
    assert api.client.delete(f"/api/v1/tokens/{made['id']}", headers=analyst).status_code == 204
    revoked = {"Authorization": f"Bearer {made['token']}"}
    for _ in range(refusals.LIMIT + 15):
        assert api.client.get("/api/v1/targets", headers=revoked).status_code == 401
    rows = _actions(api.url)
    refused = [details for action, details in rows if action == refusals.AUTH_REFUSED]
    assert len(refused) == refusals.LIMIT
    assert refused[0] == {"method": "api_token", "reason": "api token revoked", "prefix": made["prefix"]}
    suppressed = [details for action, details in rows if action == refusals.SUPPRESSED]
    assert suppressed == [
        {"kind": refusals.AUTH_REFUSED, "source": "ip:testclient", "limit": refusals.LIMIT, "window_s": 60}
    ]
    assert made["token"] not in json.dumps(rows)
    # a malformed token with a secret-looking tail is recorded by reason only
    refusals.reset()
    api.client.get("/api/v1/targets", headers={"Authorization": "Bearer sai_zzzzzzzz_" + "s" * 40})
    assert _actions(api.url)[-1] == (
        refusals.AUTH_REFUSED,
        {"method": "api_token", "reason": "api token unknown", "prefix": "zzzzzzzz"},
    )


def test_permission_denials_are_audited_in_the_api_and_the_dashboard(api: Api) -> None:
    refusals.reset()
    viewer = api.as_role(UserRole.VIEWER)
    denied = api.client.post("/api/v1/targets", json={"name": "x"}, headers=viewer)
    assert denied.status_code == 403
    action, details = _actions(api.url)[-1]
    assert action == refusals.PERMISSION_DENIED
    assert details == {
        "permission": "targets:write",
        "role": "viewer",
        "method": "access_token",
        "path": "/api/v1/targets",
    }
    for _ in range(refusals.LIMIT + 5):
        api.client.get("/api/v1/audit", headers=viewer)
    denials = [a for a, _ in _actions(api.url) if a in (refusals.PERMISSION_DENIED, refusals.SUPPRESSED)]
    assert denials.count(refusals.PERMISSION_DENIED) == refusals.LIMIT and denials.count(refusals.SUPPRESSED) == 1


def test_dashboard_denials_and_csrf_failures_are_audited(web: Web) -> None:
    refusals.reset()
    viewer = web.signed_in(UserRole.VIEWER)
    assert viewer.get("/users").status_code == 403
    assert _actions(web.url)[-1] == (
        refusals.PERMISSION_DENIED,
        {"permission": "users:manage", "role": "viewer", "method": "access_token", "path": "/users"},
    )
    forged = viewer.client.post("/logout", data={"csrf_token": "x" * 43}, headers={"accept": "text/html"})
    assert forged.status_code == 403
    action, details = _actions(web.url)[-1]
    assert action == refusals.CSRF_FAILED and details == {"method": "POST", "path": "/logout", "token_sent": True}
    assert "x" * 43 not in json.dumps(_actions(web.url))
