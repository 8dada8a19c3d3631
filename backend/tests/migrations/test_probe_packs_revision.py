"""Revision d86294de60a6: the `probe_packs` table, one row per (name, version); the downgrade removes it and
nothing else, and the upgrade brings it back."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from app.db import migrate

PREVIOUS = "7b2e9c4d1f60"
REVISION = "d86294de60a6"

INSERT = text(
    "INSERT INTO probe_packs (name, version, declared_version, title, probe_count, content, digest, active, "
    "created_at) VALUES (:name, :version, 1, 'Pricing', 1, 'pack: pricing', :digest, true, '2026-12-04 09:00:00')"
)


def test_packs_are_unique_per_name_and_version_and_the_downgrade_drops_only_them(database_url: str) -> None:
    migrate.upgrade(database_url, PREVIOUS)
    engine = create_engine(database_url)
    assert "probe_packs" not in inspect(engine).get_table_names()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, email, hashed_password, role) VALUES ('u', 'u@example.org', 'x', 'admin')"
            )
        )
    engine.dispose()

    migrate.upgrade(database_url, REVISION)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(INSERT, {"name": "pricing", "version": 1, "digest": "a" * 64})
        connection.execute(INSERT, {"name": "pricing", "version": 2, "digest": "b" * 64})
        connection.execute(INSERT, {"name": "other", "version": 1, "digest": "a" * 64})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(INSERT, {"name": "pricing", "version": 2, "digest": "c" * 64})
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, version FROM probe_packs ORDER BY name, version")).all()
    assert [tuple(row) for row in rows] == [("other", 1), ("pricing", 1), ("pricing", 2)]
    engine.dispose()

    migrate.downgrade(database_url, PREVIOUS)
    engine = create_engine(database_url)
    assert "probe_packs" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
    engine.dispose()
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    assert "probe_packs" in inspect(engine).get_table_names()
    assert migrate.current_revisions(engine) == migrate.head_revisions()
    engine.dispose()
