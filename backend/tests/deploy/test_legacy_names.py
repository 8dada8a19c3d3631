"""The earlier deployment's variable names: SECRET_KEY and REDIS_URL are read when SECUREAI_SECRET_KEY and
SECUREAI_BROKER_URL are unset, with a warning that names the new variable and never the value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.config import Settings
from tests.conftest import TEST_SECRET_KEY

OLD_BROKER = "redis://:broker-password@127.0.0.1:6390/3"


def test_secret_key_is_read_when_the_new_name_is_unset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    with caplog.at_level(logging.WARNING, logger="secureai.config"):
        settings = Settings()
    assert settings.require_secret_key() == TEST_SECRET_KEY
    assert [record.getMessage() for record in caplog.records] == [
        "SECRET_KEY (the earlier deployment's name) is used as SECUREAI_SECRET_KEY, which is unset; rename it"
    ]
    assert TEST_SECRET_KEY not in caplog.text


def test_redis_url_is_the_broker_when_the_new_name_is_unset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REDIS_URL", OLD_BROKER)
    with caplog.at_level(logging.WARNING, logger="secureai.config"):
        settings = Settings()
    assert settings.broker_url.get_secret_value() == OLD_BROKER
    assert "is used as SECUREAI_BROKER_URL" in caplog.text
    assert "broker-password" not in caplog.text


def test_the_new_names_win_silently(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SECRET_KEY", "an-old-and-weak-key")
    monkeypatch.setenv("REDIS_URL", OLD_BROKER)
    monkeypatch.setenv("SECUREAI_BROKER_URL", "redis://127.0.0.1:6379/0")
    with caplog.at_level(logging.WARNING, logger="secureai.config"):
        settings = Settings()
    assert settings.require_secret_key() == TEST_SECRET_KEY
    assert settings.broker_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert caplog.records == []


def test_the_new_name_in_dotenv_wins_over_the_old_one_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY", "an-old-and-weak-key")
    (tmp_path / ".env").write_text(f"SECUREAI_SECRET_KEY={TEST_SECRET_KEY}\n")
    assert Settings().require_secret_key() == TEST_SECRET_KEY


def test_an_empty_new_name_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """.env.example's empty `SECUREAI_SECRET_KEY=` line copied as is, the old key still in the environment."""
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    (tmp_path / ".env").write_text("SECUREAI_SECRET_KEY=\nSECUREAI_BROKER_URL=\n")
    monkeypatch.setenv("REDIS_URL", OLD_BROKER)
    settings = Settings()
    assert settings.require_secret_key() == TEST_SECRET_KEY
    assert settings.broker_url.get_secret_value() == OLD_BROKER


def test_old_names_in_dotenv_are_read_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    (tmp_path / ".env").write_text(f"SECRET_KEY={TEST_SECRET_KEY}\nREDIS_URL={OLD_BROKER}\n")
    settings = Settings()
    assert settings.require_secret_key() == TEST_SECRET_KEY
    assert settings.broker_url.get_secret_value() == OLD_BROKER


def test_a_weak_old_key_is_refused_like_a_weak_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI path an operator meets: `secureai start` with the old deployment's guessable key."""
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY", "changeme")
    result = CliRunner().invoke(cli, ["start", "--wait", "0"])
    assert result.exit_code == 2
    assert "SECUREAI_SECRET_KEY is too weak" in result.output
    assert "changeme" not in result.output


def test_start_refuses_without_any_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    result = CliRunner().invoke(cli, ["start", "--wait", "0"])
    assert result.exit_code == 2
    assert "SECUREAI_SECRET_KEY is not set" in result.output
