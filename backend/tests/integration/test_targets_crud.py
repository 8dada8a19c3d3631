"""Targets with sealed credentials, on SQLite and PostgreSQL: storage, engine config, and key rotation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.core.crypto import SealingKey, SecretDecryptError, unseal
from app.crud.targets import (
    TargetNameTakenError,
    create_target,
    credentials_of,
    engine_config,
    update_target,
)
from app.db import migrate
from app.db.models import Target
from app.engine.targets.config import TargetConfigError
from tests.conftest import TEST_SECRET_KEY, run_cli

SETTINGS = {"type": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1", "headers": {"X-Team": "red"}}


def _raw_dump(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, type, settings, credentials FROM targets")).all()
    engine.dispose()
    return json.dumps([list(map(str, row)) for row in rows])


def test_credentials_are_sealed_at_rest_and_opened_for_the_connector(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        target = create_target(
            session, name="prod chat", settings=SETTINGS, api_key="sk-live-abcdef123456", secret_headers={"X-K": "hk"}
        )
        target_id = target.id
    assert "sk-live-abcdef123456" not in _raw_dump(database_url) and '"hk"' not in _raw_dump(database_url)
    with Session(engine) as session:
        stored = session.get_one(Target, target_id)
        config = engine_config(stored)
        assert config.api_key().get_secret_value() == "sk-live-abcdef123456"  # type: ignore[union-attr]
        assert config.resolved_headers() == {"X-Team": "red", "X-K": "hk"}
        assert "sk-live" not in json.dumps(stored.settings)
    engine.dispose()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"type": "openai", "model": "m"}, "needs base_url"),
        ({"type": "carrier-pigeon", "model": "m"}, "type"),
        ({**SETTINGS, "api_key": "sk-in-the-settings"}, "credential"),
        ({**SETTINGS, "colour": "blue"}, "colour"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(
    database_url: str, settings: dict[str, object], message: str
) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with Session(engine) as session, pytest.raises(TargetConfigError, match=message):
        create_target(session, name="t", settings=settings)
    engine.dispose()


def test_names_are_unique_and_updates_keep_credentials_unless_replaced(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        first = create_target(session, name="a", settings=SETTINGS, api_key="sk-first-0000000000")
        create_target(session, name="b", settings=SETTINGS)
        with pytest.raises(TargetNameTakenError):
            create_target(session, name="a", settings=SETTINGS)
        with pytest.raises(TargetNameTakenError):
            update_target(session, first, name="b")
        update_target(session, first, settings={**SETTINGS, "model": "gpt-4.1"})
        assert credentials_of(first) == {"api_key": "sk-first-0000000000"}
        update_target(session, first, api_key="sk-second-000000000")
        assert credentials_of(first) == {"api_key": "sk-second-000000000"}
        update_target(session, first, clear_credentials=True)
        assert credentials_of(first) == {}
    engine.dispose()


def test_rotate_key_reseals_everything_and_is_all_or_nothing(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        for number in range(3):
            create_target(session, name=f"t{number}", settings=SETTINGS, api_key=f"sk-rotate-{number:012d}")
        create_target(session, name="no-secret", settings=SETTINGS)
    new_key = "Y2s1f8Qx0bV3nKp7LmZr4tWc9hJd6gAe5uSo_iE-kRyTXqPvBNMlDa0wHjF3zC8U"
    env = {"DATABASE_URL": database_url, "SECUREAI_SECRET_KEY": new_key, "OLD_KEY": TEST_SECRET_KEY}

    wrong = run_cli("secureai", "secrets", "rotate-key", "--old-key-env", "NOPE", env=env)
    assert wrong.returncode == 2 and "NOPE" in wrong.stderr
    mismatch = run_cli("secureai", "secrets", "rotate-key", "--old-key-env", "X", env={**env, "X": "not-the-old-key"})
    assert mismatch.returncode == 1 and "nothing changed" in mismatch.stderr and "t0" in mismatch.stderr
    before = _raw_dump(database_url)

    rotated = run_cli("secureai", "secrets", "rotate-key", "--old-key-env", "OLD_KEY", "--json", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["resealed"] == 3
    assert _raw_dump(database_url) != before
    again = run_cli("secureai", "secrets", "rotate-key", "--old-key-env", "OLD_KEY", "--json", env=env)
    assert json.loads(again.stdout) == {**json.loads(again.stdout), "resealed": 0, "already_current": 3}

    new, old = SealingKey.derive(new_key), SealingKey.derive(TEST_SECRET_KEY)
    with Session(engine) as session:
        sealed = [t.credentials for t in session.query(Target).order_by(Target.id) if t.credentials]
    assert [unseal(value, new)["secrets"]["api_key"] for value in sealed] == [f"sk-rotate-{n:012d}" for n in range(3)]
    with pytest.raises(SecretDecryptError):
        unseal(sealed[0], old)
    get_settings.cache_clear()
    engine.dispose()
