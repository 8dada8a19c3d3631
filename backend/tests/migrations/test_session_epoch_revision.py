"""Revision db56de41ac40: `users.session_epoch` (0 for existing users) and, on PostgreSQL, no TRUNCATE of
audit_logs; both go with a downgrade and come back with the upgrade."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from app.db import migrate

PREVIOUS = "c4e8f1a2b3d5"


def _triggers(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        names = set(connection.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    engine.dispose()
    return names


def test_existing_users_start_at_epoch_zero_and_downgrade_removes_the_column(database_url: str) -> None:
    migrate.upgrade(database_url, PREVIOUS)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, email, hashed_password, role, is_active) "
                "VALUES ('old', 'old@example.org', 'x', 'analyst', true)"
            )
        )
    engine.dispose()
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT session_epoch FROM users")).scalar_one() == 0
        connection.execute(  # a new row without the column gets the server default too
            text(
                "INSERT INTO users (username, email, hashed_password, role) "
                "VALUES ('new', 'n@example.org', 'x', 'viewer')"
            )
        )
        assert connection.execute(text("SELECT session_epoch FROM users WHERE username = 'new'")).scalar_one() == 0
    if engine.dialect.name == "postgresql":
        assert {"audit_logs_append_only", "audit_logs_no_truncate"} <= _triggers(database_url)
    engine.dispose()

    migrate.downgrade(database_url, PREVIOUS)
    engine = create_engine(database_url)
    assert "session_epoch" not in {column["name"] for column in inspect(engine).get_columns("users")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 2  # nothing else lost
    dialect = engine.dialect.name
    engine.dispose()
    if dialect == "postgresql":
        triggers = _triggers(database_url)
        assert "audit_logs_no_truncate" not in triggers and "audit_logs_append_only" in triggers
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    assert migrate.current_revisions(engine) == migrate.head_revisions()
    engine.dispose()
