"""pytest-alembic fixtures: the project's alembic.ini, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_alembic.config import Config
from sqlalchemy import Engine, create_engine

from tests.conftest import BACKEND_DIR


@pytest.fixture
def alembic_config() -> Config:
    return Config(
        config_options={
            "file": str(BACKEND_DIR / "alembic.ini"),
            "script_location": str(BACKEND_DIR / "app" / "db" / "migrations"),
        }
    )


@pytest.fixture
def alembic_engine(database_url: str) -> Iterator[Engine]:
    """A fresh, empty database per test: SQLite and PostgreSQL (see tests/conftest.py)."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()
