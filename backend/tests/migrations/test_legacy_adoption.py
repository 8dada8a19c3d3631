"""Legacy databases upgrade in place with nothing lost, on SQLite and PostgreSQL, odd data included."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from app.auth.passwords import verify_password
from app.db import migrate
from app.db.doctor import diagnose
from app.db.enums import ScanStatus, UserRole
from app.db.legacy import compare_with_original, copy_legacy_database, text_sha256
from app.db.models import Scan, User
from app.db.tempdb import temporary_database
from tests.conftest import LEGACY_STAMPED, LEGACY_UNVERSIONED

SAMPLES = [LEGACY_STAMPED, LEGACY_UNVERSIONED]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_server"))
    return "sqlite"


@pytest.fixture
def legacy_db(backend: str, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(url, original file, scratch dir) for a copy of the stamped sample on the backend."""
    yield from _load(LEGACY_STAMPED, backend, tmp_path)


def _load(sample: Path, backend: str, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    if backend == "sqlite":
        copy = tmp_path / sample.name
        shutil.copyfile(sample, copy)
        yield f"sqlite:///{copy}", sample, copy
        return
    with temporary_database(backend) as url:
        copy_legacy_database(sample, url)
        yield url, sample, tmp_path


def _engine(url: str) -> Engine:
    return create_engine(url)


@pytest.mark.parametrize("sample", SAMPLES, ids=["stamped", "unstamped"])
def test_sample_upgrades_with_nothing_lost_and_downgrades_back(sample: Path, backend: str, tmp_path: Path) -> None:
    manifest = json.loads(sample.with_name(sample.name.removesuffix(".db") + ".manifest.json").read_text())
    for url, original, _ in _load(sample, backend, tmp_path):
        engine = _engine(url)
        assert migrate.current_revisions(engine) == ((manifest["revision"],) if manifest["revision"] else ())

        migrate.upgrade(url)

        assert migrate.current_revisions(engine) == migrate.head_revisions()
        comparison = compare_with_original(original, engine)
        assert comparison.problems == []
        assert comparison.rows == manifest["counts"]
        assert text_sha256(engine) == manifest["text_sha256"]
        with Session(engine) as session:
            users = {user.username: user for user in session.scalars(select(User))}
            assert users["admin"].role is UserRole.ADMIN
            assert users["analyst"].role is UserRole.ANALYST  # legacy USER
            for name, password in manifest["passwords"].items():
                assert verify_password(password, users[name].hashed_password), name
            statuses = {scan.status for scan in session.scalars(select(Scan))}
            assert statuses <= set(ScanStatus)
        assert migrate.drift(engine) == []

        migrate.downgrade(url, migrate.LEGACY_REVISION)
        assert compare_with_original(original, engine, at_legacy_revision=True).problems == []
        with engine.connect() as connection:
            roles = set(connection.execute(text("SELECT role FROM users")).scalars())
        assert roles <= {"ADMIN", "USER", "VIEWER"}
        engine.dispose()


ODD_DATA = [
    # a second user with the admin's e-mail, a NULL role, an unknown role, a lower-case role
    "INSERT INTO users (id, username, email, hashed_password, role, is_active) VALUES "
    "(101, 'twin', 'admin@legacy.example', 'x', 'USER', true), "
    "(102, 'nobody', 'nobody@legacy.example', 'x', NULL, true), "
    "(103, 'root', 'root@legacy.example', 'x', 'SUPERUSER', true), "
    "(104, 'lower', 'lower@legacy.example', 'x', 'admin', false)",
    "INSERT INTO scans (id, name, model_name, model_type, scanner_type, status, created_by) VALUES "
    "(901, 'odd scan', 'm', 'rest', 'Garak', NULL, 1)",
    "INSERT INTO vulnerabilities (id, scan_id, title, severity) VALUES (9001, 901, 'odd', 'SEVERE'), "
    "(9002, 901, 'no severity', NULL)",
    "INSERT INTO compliance_mappings (id, scan_id, framework, requirement_id, requirement_name, "
    "compliance_status) VALUES (9001, 901, 'owasp', 'LLM01', 'x', 'Unknown')",
]

EXPECTED_FIXUPS = {
    ("users", "email", 101): ("admin@legacy.example", "dup101.admin@legacy.example"),
    ("users", "role", 102): (None, "viewer"),
    ("users", "role", 103): ("SUPERUSER", "viewer"),
    ("users", "role", 104): ("admin", "admin"),
    ("scans", "status", 901): (None, "failed"),
    ("scans", "scanner_type", 901): ("Garak", "garak"),
    ("vulnerabilities", "severity", 9001): ("SEVERE", None),
    ("compliance_mappings", "compliance_status", 9001): ("Unknown", "not_assessed"),
}


def test_odd_legacy_data_is_kept_reported_and_restored(legacy_db: tuple[str, Path, Path], tmp_path: Path) -> None:
    url, _, _ = legacy_db
    engine = _engine(url)
    with engine.begin() as connection:
        for statement in ODD_DATA:
            connection.execute(text(statement))
    # the reference for "nothing lost" is the odd database itself, snapshotted to an SQLite file
    snapshot = tmp_path / "odd-original.db"
    _snapshot_to_sqlite(engine, snapshot)

    migrate.upgrade(url)

    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT table_name, column_name, row_id, old_value, new_value FROM migration_fixups")
        ).all()
    assert {(t, c, r): (old, new) for t, c, r, old, new in rows} == EXPECTED_FIXUPS
    assert compare_with_original(snapshot, engine).problems == []
    warnings = [finding.message for finding in diagnose(engine) if finding.check == "legacy-data"]
    assert any("users.email" in message and "e-mail already used" in message for message in warnings)
    with Session(engine) as session:
        nobody = session.get(User, 102)
        assert nobody is not None
        assert nobody.role is UserRole.VIEWER

    migrate.downgrade(url, migrate.LEGACY_REVISION)
    assert compare_with_original(snapshot, engine, at_legacy_revision=True).problems == []
    engine.dispose()


def _snapshot_to_sqlite(engine: Engine, snapshot: Path) -> None:
    """Copy the legacy tables of `engine` into an SQLite file with the same legacy schema."""
    snapshot_url = f"sqlite:///{snapshot}"
    migrate.upgrade(snapshot_url, migrate.LEGACY_REVISION)
    target = create_engine(snapshot_url)
    with engine.connect() as source, target.begin() as destination:
        for name in migrate.LEGACY_TABLES:
            source_table = Table(name, MetaData(), autoload_with=source)
            target_table = Table(name, MetaData(), autoload_with=destination)
            rows = [dict(row) for row in source.execute(source_table.select()).mappings()]
            if rows:
                destination.execute(target_table.insert(), rows)
    target.dispose()


def test_comparison_detects_a_changed_value(legacy_db: tuple[str, Path, Path]) -> None:
    url, original, _ = legacy_db
    migrate.upgrade(url)
    engine = _engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE vulnerabilities SET evidence = 'tampered' WHERE id = 7"))
        connection.execute(text("DELETE FROM compliance_mappings WHERE id = 3"))
    problems = compare_with_original(original, engine).problems
    assert any(problem.startswith("vulnerabilities.evidence id=7:") for problem in problems)
    assert any("compliance_mappings" in problem for problem in problems)
    engine.dispose()


def test_database_refuses_legacy_spelling_after_upgrade(legacy_db: tuple[str, Path, Path]) -> None:
    url, _, _ = legacy_db
    migrate.upgrade(url)
    engine = _engine(url)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE users SET role = 'ADMIN' WHERE id = 1"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, email, hashed_password, role) "
                "VALUES ('b', 'admin@legacy.example', 'x', 'viewer')"
            )
        )
    with Session(engine) as session, pytest.raises(StatementError):
        session.execute(select(User).where(User.role == "ADMIN"))  # type: ignore[arg-type]
    engine.dispose()
