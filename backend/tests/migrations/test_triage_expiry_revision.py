"""Revision f8885e0a3b7a: `finding_triage.expires_at`; the downgrade drops the column and keeps the triage rows,
and the upgrade brings it back empty."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from app.db import migrate

PREVIOUS = "d86294de60a6"
REVISION = "f8885e0a3b7a"


def _columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("finding_triage")}
    finally:
        engine.dispose()


def test_expiry_column_added_and_dropped_without_losing_triage(database_url: str) -> None:
    migrate.upgrade(database_url, PREVIOUS)
    assert "expires_at" not in _columns(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO targets (name, type, settings, created_at, updated_at) "
                "VALUES ('t', 'openai', '{}', '2026-12-04 09:00:00', '2026-12-04 09:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO finding_triage (target_id, fingerprint, state, comment, updated_at) "
                "VALUES (1, :fp, 'accepted_risk', 'compensating control', '2026-12-04 09:00:00')"
            ),
            {"fp": "a" * 64},
        )
    engine.dispose()

    migrate.upgrade(database_url, REVISION)
    assert "expires_at" in _columns(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE finding_triage SET expires_at = '2027-01-31 00:00:00'"))
        row = connection.execute(text("SELECT state, comment, expires_at FROM finding_triage")).one()
    assert (row[0], row[1], str(row[2])[:10]) == ("accepted_risk", "compensating control", "2027-01-31")
    engine.dispose()

    migrate.downgrade(database_url, PREVIOUS)
    assert "expires_at" not in _columns(database_url)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT comment FROM finding_triage")).scalar_one() == "compensating control"
    engine.dispose()
    migrate.upgrade(database_url)
    assert "expires_at" in _columns(database_url)
