"""SECUREAI_SECRET_KEY: a guessable key is refused outside the demo, `secureai secrets generate-key` makes a good
one, and a deployment sealed under a weak key moves to a strong one with `secureai secrets rotate-key`."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.config import Settings, secret_key_problem
from app.core.crypto import SealingKey, unseal
from app.crud.targets import create_target
from app.db import migrate
from app.db.models import Target
from tests.conftest import LEGACY_UNVERSIONED, TEST_SECRET_KEY, run_cli

WEAK_KEYS = {
    "the issue's example": "changeme",
    "the tests' old key": "test-secret-key-" + "k" * 40,
    "a sentence": "correct horse battery staple and many more words here ok",
    "a repeated hex block": "0123456789abcdef" * 4,
    "a repeated base64 chunk": "Zq8xW3" * 11,
    "the base64 alphabet in order": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    "one character": "x" * 100,
    "a short random key": secrets.token_urlsafe(24),
    "63 hex characters": secrets.token_hex(32)[:63],
}
TARGET = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}


def test_the_server_refuses_a_weak_key_with_one_line_saying_how_to_make_one() -> None:
    result = run_cli("secureai", "serve", "--port", "1", env={"SECUREAI_SECRET_KEY": "changeme", "SECUREAI_DEMO": "0"})
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert "SECUREAI_SECRET_KEY is too weak" in message and "secureai secrets generate-key" in message
    assert "Traceback" not in result.stderr and "changeme" not in result.stdout + result.stderr
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_weak_keys_are_refused_outside_the_demo(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert secret_key_problem(key) is not None
    monkeypatch.setenv("SECUREAI_SECRET_KEY", key)
    with pytest.raises(RuntimeError, match=r"too weak.*secureai secrets generate-key"):
        Settings().require_secret_key()
    monkeypatch.setenv("SECUREAI_DEMO", "1")  # a local demo may use what it likes
    assert Settings().require_secret_key() == key


def test_keys_from_a_random_source_pass() -> None:
    for _ in range(2000):
        for key in (secrets.token_urlsafe(32), secrets.token_hex(32), secrets.token_hex(32).upper()):
            assert secret_key_problem(key) is None, key
    assert secret_key_problem(TEST_SECRET_KEY) is None


def test_generate_key_prints_a_new_strong_key_each_time() -> None:
    first = run_cli("secureai", "secrets", "generate-key", env={"SECUREAI_SECRET_KEY": ""})
    second = run_cli("secureai", "secrets", "generate-key", "--json", env={"SECUREAI_SECRET_KEY": ""})
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    key = first.stdout.strip()
    document = json.loads(second.stdout)
    assert len(key) == 64 and secret_key_problem(key) is None
    assert document["secret_key"] != key and secret_key_problem(document["secret_key"]) is None
    assert document["bits"] == 384 and document["minimum_bits"] == 256
    served = run_cli("secureai", "secrets", "rotate-key", "--old-key-env", "NONE", env={"SECUREAI_SECRET_KEY": key})
    assert "too weak" not in served.stderr  # the generated key is accepted where keys are checked


def test_a_database_sealed_with_a_weak_key_is_rotated_to_a_strong_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = "changeme-please-" + "k" * 20
    migrate.upgrade(database_url)
    # the old deployment ran with the weak key (as before this release: the demo mode still accepts one)
    monkeypatch.setenv("SECUREAI_SECRET_KEY", weak)
    monkeypatch.setenv("SECUREAI_DEMO", "1")
    from tests.conftest import _clear_caches

    _clear_caches()
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        create_target(session, name="legacy", settings=TARGET, api_key="sk-weakly-sealed-000001")
    _clear_caches()

    still_weak = run_cli(
        "secureai",
        "secrets",
        "rotate-key",
        "--old-key-env",
        "OLD",
        env={"DATABASE_URL": database_url, "OLD": weak, "SECUREAI_DEMO": "0"},
    )
    assert still_weak.returncode == 2 and "too weak" in still_weak.stderr and weak not in still_weak.stderr

    strong = run_cli("secureai", "secrets", "generate-key").stdout.strip()
    rotated = run_cli(
        "secureai",
        "secrets",
        "rotate-key",
        "--old-key-env",
        "OLD",
        "--json",
        env={"DATABASE_URL": database_url, "SECUREAI_SECRET_KEY": strong, "OLD": weak, "SECUREAI_DEMO": "0"},
    )
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["resealed"] == 1
    with Session(engine) as session:
        sealed = session.query(Target).one().credentials
    assert unseal(sealed, SealingKey.derive(strong))["secrets"]["api_key"] == "sk-weakly-sealed-000001"
    engine.dispose()


def test_a_legacy_upgrade_with_a_weak_key_refuses_with_the_reason_and_changes_nothing(tmp_path: Path) -> None:
    copy = tmp_path / "legacy.db"
    shutil.copyfile(LEGACY_UNVERSIONED, copy)
    url = f"sqlite:///{copy}"
    migrate.upgrade(url, "64971bd2b79a")
    result = run_cli("secureai", "db", "upgrade", env={"DATABASE_URL": url, "SECUREAI_SECRET_KEY": "changeme"})
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "too weak" in output and "secureai secrets generate-key" in output
    assert "Traceback" not in result.stderr and "changeme" not in output
    engine = create_engine(url)
    assert migrate.current_revisions(engine) == ("64971bd2b79a",)
    engine.dispose()
