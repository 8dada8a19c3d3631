"""Settings: defaults, URL normalisation, the secret key rule, and docs/configuration.md kept in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import MissingSecretKeyError, Settings, get_settings
from tests.conftest import BACKEND_DIR


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = get_settings()
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'secureai.db'}"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////var/lib/x.db", "sqlite:////var/lib/x.db"),
    ],
)
def test_database_url_forms(given: str, used: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert Settings().effective_database_url == used


def test_secret_key_required_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    with pytest.raises(MissingSecretKeyError, match="SECUREAI_SECRET_KEY is not set"):
        Settings().require_secret_key()


def test_demo_key_is_made_once_private_and_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECUREAI_DEMO", "1")
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    first = Settings().require_secret_key()
    key_file = tmp_path / "data" / "demo-secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 48
    assert Settings().require_secret_key() == first


def test_dotenv_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")  # the environment would win over .env
    (tmp_path / ".env").write_text(
        "SECUREAI_SECRET_KEY=Vq4mB8xK2nR7tW1zJ5cH9gL3pF6sD0aE-yU_oIiNbMkXwQeTrCvZhGjPlSfAdYs2\nSECUREAI_LOG_LEVEL=DEBUG\n"
    )
    settings = Settings()
    assert settings.require_secret_key() == "Vq4mB8xK2nR7tW1zJ5cH9gL3pF6sD0aE-yU_oIiNbMkXwQeTrCvZhGjPlSfAdYs2"
    assert settings.log_level == "DEBUG"


def test_configuration_page_lists_every_setting() -> None:
    page = (BACKEND_DIR.parent / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.MULTILINE))
    declared = {str(field.validation_alias) for field in Settings.model_fields.values()}
    assert documented == declared
