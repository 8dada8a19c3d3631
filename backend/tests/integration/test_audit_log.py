"""The audit hash chain on real SQLite and PostgreSQL databases: appending, legacy rows, tampering, concurrency,
redaction as stored, and `secureai audit verify`."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
import typer
from sqlalchemy import Engine, Table, delete, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.audit.chain import GENESIS_HASH, compute_row_hash, fields_of
from app.audit.log import record
from app.audit.verify import ALTERED, LINK, MISSING_ANCHOR, UNCHAINED, VerifyResult, verify_chain
from app.cli import audit as audit_cli
from app.config import get_settings
from app.db import migrate
from app.db.models import AuditLog
from app.db.session import make_engine

TABLE = cast(Table, AuditLog.__table__)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated empty database (SQLite, then PostgreSQL) with one user to point audit rows at."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, email, hashed_password, role) "
                "VALUES ('ann', 'ann@example.org', 'x', 'admin')"
            )
        )
    yield engine
    engine.dispose()


def append(engine: Engine, count: int, *, start: int = 0) -> list[int]:
    """`count` chained rows, one transaction each; their ids."""
    ids = []
    for n in range(start, start + count):
        with Session(engine) as session:
            row = record(
                session,
                "scan_started" if n % 2 else "login_success",
                user_id=1 if n % 3 else None,
                resource_type="scan" if n % 2 else None,
                resource_id=n if n % 2 else None,
                details={"n": n, "ratio": n / 7, "tags": ["a", "é", n], "nested": {"ok": n % 2 == 0}},
                ip_address=f"10.0.0.{n % 250}",
                user_agent="pytest/1 (+audit)",
            )
            session.commit()
            ids.append(row.id)
    return ids


def append_legacy(engine: Engine, count: int) -> list[int]:
    """Rows as the older deployment wrote them: no hashes."""
    with engine.begin() as connection:
        for n in range(count):
            connection.execute(
                TABLE.insert().values(action="legacy_login", details={"n": n}, ip_address="192.0.2.1", created_at=None)
            )
        return list(connection.execute(select(TABLE.c.id).order_by(TABLE.c.id.desc()).limit(count)).scalars())[::-1]


def verify(engine: Engine, **options: Any) -> VerifyResult:
    with Session(engine) as session:
        return verify_chain(session, **options)


def tamper(engine: Engine, statement: Any) -> None:
    """Run an UPDATE or DELETE as an attacker with table rights would (past the PostgreSQL trigger)."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only"))
        assert connection.execute(statement).rowcount == 1
        if postgres:
            connection.execute(text("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only"))


def stored_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(TABLE).order_by(TABLE.c.id)))


def test_appended_rows_form_one_linked_chain(engine: Engine) -> None:
    ids = append(engine, 12)
    rows = stored_rows(engine)
    assert [row.id for row in rows] == ids
    assert rows[0].prev_hash == GENESIS_HASH
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.row_hash
    for row in rows:
        assert row.row_hash == compute_row_hash(**fields_of(row))
    expected = VerifyResult(ok=True, legacy_rows=0, chained_rows=12, last_hash=rows[-1].row_hash)
    assert verify(engine) == expected
    assert verify(engine, batch_size=5) == expected  # keyset pages end mid-chain
    assert verify(engine, anchor=rows[4].row_hash) == expected


def test_an_empty_log_verifies(engine: Engine) -> None:
    assert verify(engine) == VerifyResult(ok=True, legacy_rows=0, chained_rows=0)


def test_legacy_rows_are_counted_and_the_chain_starts_after_them(engine: Engine) -> None:
    legacy_ids = append_legacy(engine, 3)
    chained_ids = append(engine, 12)
    assert min(chained_ids) > max(legacy_ids)
    rows = stored_rows(engine)
    assert [(row.prev_hash, row.row_hash) for row in rows[:3]] == [(None, None)] * 3  # never hashed afterwards
    assert rows[3].prev_hash == GENESIS_HASH
    result = verify(engine, batch_size=4)
    assert (result.ok, result.legacy_rows, result.chained_rows) == (True, 3, 12)

    # a row without hashes after the chain started did not go through record()
    late_id = append_legacy(engine, 1)[0]
    append(engine, 2, start=12)
    result = verify(engine)
    assert (result.ok, result.first_broken_id, result.reason) == (False, late_id, UNCHAINED)
    assert (result.legacy_rows, result.chained_rows) == (3, 12)


@pytest.mark.parametrize(
    "change",
    [
        {"details": {"n": 4, "ratio": 0.0, "tags": [], "nested": {"ok": True}}},
        {"action": "login_failure"},
        {"user_id": None},
        {"ip_address": "10.9.9.9"},
        {"prev_hash": "f" * 64},
    ],
    ids=lambda change: next(iter(change)),
)
def test_altering_a_middle_row_names_exactly_that_row(engine: Engine, change: dict[str, Any]) -> None:
    append_legacy(engine, 2)
    ids = append(engine, 9)
    victim = ids[4]
    tamper(engine, update(TABLE).where(TABLE.c.id == victim).values(**change))
    result = verify(engine)
    assert result.ok is False
    assert result.first_broken_id == victim
    assert result.reason is not None and result.reason.startswith(ALTERED)
    assert (result.legacy_rows, result.chained_rows) == (2, 4)


def test_a_changed_timestamp_is_detected(engine: Engine) -> None:
    ids = append(engine, 5)
    with engine.connect() as connection:
        created = connection.execute(select(TABLE.c.created_at).where(TABLE.c.id == ids[2])).scalar_one()
    tamper(engine, update(TABLE).where(TABLE.c.id == ids[2]).values(created_at=created + timedelta(seconds=1)))
    assert verify(engine).first_broken_id == ids[2]


def test_deleting_a_middle_row_names_the_row_after_it(engine: Engine) -> None:
    ids = append(engine, 10)
    tamper(engine, delete(TABLE).where(TABLE.c.id == ids[5]))
    result = verify(engine)
    assert (result.ok, result.first_broken_id, result.chained_rows) == (False, ids[6], 5)
    assert result.reason is not None and result.reason.startswith(LINK)


def test_deleting_the_first_chained_row_is_detected(engine: Engine) -> None:
    append_legacy(engine, 2)
    ids = append(engine, 3)
    tamper(engine, delete(TABLE).where(TABLE.c.id == ids[0]))
    result = verify(engine)
    assert (result.ok, result.first_broken_id, result.legacy_rows) == (False, ids[1], 2)
    assert result.reason is not None and result.reason.startswith(LINK)


def test_a_row_rewritten_with_a_fresh_hash_breaks_the_next_link(engine: Engine) -> None:
    ids = append(engine, 6)
    victim = stored_rows(engine)[2]
    forged = {"details": {"n": 2, "note": "nothing happened"}}
    forged_hash = compute_row_hash(**{**fields_of(victim), "details": forged["details"]})
    tamper(engine, update(TABLE).where(TABLE.c.id == victim.id).values(row_hash=forged_hash, **forged))
    result = verify(engine)
    assert (result.ok, result.first_broken_id) == (False, ids[3])
    assert result.reason is not None and result.reason.startswith(LINK)


def test_a_removed_tail_is_caught_by_an_anchor(engine: Engine) -> None:
    append(engine, 5)
    anchor = stored_rows(engine)[-1].row_hash
    tamper(engine, delete(TABLE).where(TABLE.c.row_hash == anchor))
    assert verify(engine).ok  # the chain alone cannot see a missing tail...
    result = verify(engine, anchor=anchor)
    assert (result.ok, result.first_broken_id, result.reason, result.chained_rows) == (False, None, MISSING_ANCHOR, 4)


def test_secrets_in_details_are_never_stored(engine: Engine) -> None:
    secrets = [
        "hunter2-correct-horse",
        "sk-proj-9xY8wV7uT6sR5qP4oN3m",
        "sai_live_0123456789abcdef",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl",
    ]
    with Session(engine) as session:
        record(
            session,
            "target_created",
            user_id=1,
            resource_type="target",
            resource_id=3,
            details={
                "name": "prod",
                "password": secrets[0],
                "settings": {"headers": [{"X-Api-Key": "opaque-header-value"}], "api_key_env": "OPENAI_API_KEY"},
                "error": f"401 from upstream for key {secrets[1]}",
                "tokens": [secrets[2], {"note": f"Bearer {secrets[3]}"}],
            },
            user_agent=f"ci-bot/2 token={secrets[2]}",
        )
        session.commit()
    with engine.connect() as connection:  # the raw text of every column of every row, as the database holds it
        columns = ", ".join(f"CAST({column.name} AS TEXT)" for column in TABLE.columns)
        raw = " ".join(
            str(value) for row in connection.execute(text(f"SELECT {columns} FROM audit_logs")) for value in row
        )
    for secret in [*secrets, "opaque-header-value"]:
        assert secret not in raw
    assert "OPENAI_API_KEY" in raw and "401 from upstream for key [REDACTED]" in raw and "ci-bot/2" in raw
    assert verify(engine).ok


def test_overlong_values(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(ValueError, match="action"):
            record(session, "x" * 51)
        row = record(session, "login_success", ip_address="1" * 60, user_agent="Mozilla/5.0 " + "z" * 400)
        session.commit()
        assert (len(row.ip_address or ""), len(row.user_agent or "")) == (45, 255)
    assert verify(engine).ok


def test_record_refuses_a_connection_where_its_lock_would_not_hold(engine: Engine) -> None:
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with Session(autocommit) as session, pytest.raises(RuntimeError, match="autocommit"):
        record(session, "login_success")
    if engine.dialect.name == "postgresql":  # a snapshot older than the lock could miss the previous row
        with Session(engine.execution_options(isolation_level="REPEATABLE READ")) as session:
            with pytest.raises(RuntimeError, match="READ COMMITTED"):
                record(session, "login_success")
            session.rollback()
    assert verify(engine) == VerifyResult(ok=True, legacy_rows=0, chained_rows=0)


def _append_from_a_process(url: str, worker: int, count: int, barrier: Any) -> None:
    """Runs in a child process: wait for the others, then append `count` rows, one transaction each."""
    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)
        for n in range(count):
            with Session(engine) as session:
                record(session, "concurrent_append", details={"worker": worker, "n": n})
                session.commit()
    finally:
        engine.dispose()


def assert_one_linear_chain(engine: Engine, workers: int, count: int) -> None:
    rows = stored_rows(engine)
    assert len(rows) == workers * count
    assert {(row.details["worker"], row.details["n"]) for row in rows} == {
        (w, n) for w in range(workers) for n in range(count)
    }
    assert len({row.prev_hash for row in rows}) == len(rows)  # no two rows claim the same predecessor: no fork
    assert [row.created_at for row in rows] == sorted(row.created_at for row in rows)
    assert verify(engine) == VerifyResult(ok=True, legacy_rows=0, chained_rows=len(rows), last_hash=rows[-1].row_hash)


@pytest.mark.slow
def test_concurrent_processes_keep_one_linear_chain(engine: Engine) -> None:
    workers, count = 3, 50
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    processes = [context.Process(target=_append_from_a_process, args=(url, w, count, barrier)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [process.exitcode for process in processes] == [0] * workers
    assert_one_linear_chain(engine, workers, count)


def test_concurrent_threads_with_their_own_sessions_keep_one_linear_chain(engine: Engine) -> None:
    workers, count = 4, 50
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(count):
                with Session(engine) as session:
                    record(session, "concurrent_append", details={"worker": worker, "n": n})
                    session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert errors == []
    assert_one_linear_chain(engine, workers, count)


# --- the command line -------------------------------------------------------------------------------------------


def invoke(url: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`secureai audit ARGS` in-process, registered as main.py will register it."""
    root = typer.Typer()
    root.add_typer(audit_cli.app, name="audit")
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    return CliRunner().invoke(root, ["audit", *args])


def test_cli_verify_reports_an_intact_chain(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    url = engine.url.render_as_string(hide_password=False)
    append_legacy(engine, 3)
    append(engine, 12)
    last = stored_rows(engine)[-1].row_hash

    result = invoke(url, "verify", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert (
        "audit chain intact: 12 chained rows after 3 legacy rows (the chain starts after the legacy rows, which "
        "carry no hashes)" in result.stdout
    )
    assert f"last hash: {last}" in result.stdout

    result = invoke(url, "verify", "--json", "--anchor", last.upper(), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and (report["legacy_rows"], report["chained_rows"]) == (3, 12)
    assert report["first_broken_id"] is None and report["last_hash"] == last
    assert "***" in report["database"] or engine.url.password is None


def test_cli_verify_names_the_first_broken_row(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    url = engine.url.render_as_string(hide_password=False)
    ids = append(engine, 8)
    tamper(engine, update(TABLE).where(TABLE.c.id == ids[3]).values(action="nothing_to_see"))

    result = invoke(url, "verify", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert f"audit chain broken at row {ids[3]}: row altered" in " ".join(result.stderr.split())
    assert result.stdout == ""

    result = invoke(url, "verify", "--json", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_broken_id"], report["chained_rows"]) == (False, ids[3], 3)
    assert report["reason"].startswith(ALTERED)


def test_cli_verify_missing_anchor_and_bad_anchor(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    url = engine.url.render_as_string(hide_password=False)
    append(engine, 2)
    result = invoke(url, "verify", "--anchor", "a" * 64, monkeypatch=monkeypatch)
    assert result.exit_code == 1 and "anchor hash is not in the chain" in result.stderr
    result = invoke(url, "verify", "--anchor", "not-a-hash", monkeypatch=monkeypatch)
    assert result.exit_code == 2 and "64 hexadecimal characters" in result.stderr


def test_cli_verify_unreachable_and_unmigrated_databases(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke("postgresql+psycopg://postgres:pw@127.0.0.1:1/nothing", "verify", monkeypatch=monkeypatch)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: cannot reach the database") and "pw@" not in result.stderr
    assert "Traceback" not in result.output

    missing = tmp_path / "nowhere" / "secureai.db"
    result = invoke(f"sqlite:///{missing}", "verify", "--json", monkeypatch=monkeypatch)
    assert result.exit_code == 3 and "no such file" in result.stderr
    assert not missing.parent.exists()  # verifying created nothing

    empty = tmp_path / "empty.db"
    other = make_engine(f"sqlite:///{empty}")
    with other.begin() as connection:
        connection.execute(text("CREATE TABLE unrelated (id INTEGER)"))
    other.dispose()
    result = invoke(f"sqlite:///{empty}", "verify", monkeypatch=monkeypatch)
    assert result.exit_code == 1 and "has no audit chain yet (run `secureai db upgrade`)" in result.stderr
