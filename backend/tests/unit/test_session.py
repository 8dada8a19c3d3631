"""The SQLite engine is tuned for an embedded server: WAL, busy timeout, foreign keys enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.db import migrate
from app.db.session import SessionLocal, get_engine, make_engine


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    engine.dispose()


def test_foreign_keys_are_enforced_in_app_sessions(tmp_path: Path) -> None:
    migrate.upgrade(get_engine().url.render_as_string(hide_password=False))
    with SessionLocal() as session, pytest.raises(IntegrityError):
        session.execute(
            text("INSERT INTO scans (name, model_name, model_type, created_by) VALUES ('s', 'm', 'rest', 999)")
        )
        session.commit()


def test_guide_import_of_engine_works() -> None:
    from app.db.session import engine

    assert engine is get_engine()
