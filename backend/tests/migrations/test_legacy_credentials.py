"""Revision c4e8f1a2b3d5: legacy plaintext credentials end up sealed in targets, and nowhere else."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from app.core.crypto import SealingKey, unseal
from app.db import migrate
from app.db.errors import MigrationPreconditionError
from app.db.legacy import compare_with_original, copy_legacy_database
from app.db.tempdb import temporary_database
from tests.conftest import LEGACY_STAMPED, LEGACY_UNVERSIONED, TEST_SECRET_KEY, run_cli

SECRET_MARKS = (b"sk-legacy-", b"Bearer sk-")


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A copy of the stamped legacy sample on SQLite or PostgreSQL, not yet upgraded."""
    if request.param == "sqlite":
        copy = tmp_path / "legacy.db"
        shutil.copyfile(LEGACY_STAMPED, copy)
        yield f"sqlite:///{copy}"
        return
    with temporary_database(str(request.getfixturevalue("postgres_server"))) as url:
        copy_legacy_database(LEGACY_STAMPED, url)
        yield url


def _rows_containing(engine: Engine, needle: str) -> dict[str, int]:
    """Rows of every table whose text contains `needle` (any column, as the database renders the row)."""
    found = {}
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            columns = [column["name"] for column in inspect(connection).get_columns(table)]
            if connection.dialect.name == "postgresql":
                condition = "CAST(r AS TEXT) LIKE :needle"
            else:
                condition = " OR ".join(f'CAST("{column}" AS TEXT) LIKE :needle' for column in columns)
            count = connection.execute(
                text(f"SELECT COUNT(*) FROM {table} AS r WHERE {condition}"), {"needle": f"%{needle}%"}
            ).scalar_one()
            if count:
                found[table] = count
    return found


def test_upgrade_seals_every_legacy_secret_and_leaves_no_plaintext(legacy_url: str) -> None:
    engine = create_engine(legacy_url)
    assert _rows_containing(engine, "sk-legacy-")  # the sample really holds plaintext keys
    engine.dispose()
    migrate.upgrade(legacy_url)
    engine = create_engine(legacy_url)
    assert _rows_containing(engine, "sk-legacy-") == {}
    with engine.connect() as connection:
        targets = connection.execute(text("SELECT id, type, credentials FROM targets ORDER BY id")).all()
        linked = connection.execute(text("SELECT COUNT(*) FROM scans WHERE target_id IS NOT NULL")).scalar_one()
        with_config = connection.execute(text("SELECT COUNT(*) FROM scans WHERE model_config IS NOT NULL")).scalar_one()
    assert linked == with_config > 0
    key = SealingKey.derive(TEST_SECRET_KEY)
    secrets = [unseal(credentials, key)["secrets"] for _, _, credentials in targets if credentials]
    assert secrets and all(s["api_key"].startswith("sk-legacy-") for s in secrets)
    assert any(s.get("headers", {}).get("Authorization", "").startswith("Bearer sk-legacy-") for s in secrets)
    assert {kind for _, kind, _ in targets} <= {"openai", "http", "huggingface", "local"}
    # every other legacy value is still there, and each rewritten config is the original minus its secrets
    assert compare_with_original(LEGACY_STAMPED, engine).problems == []
    engine.dispose()


def test_sqlite_file_keeps_no_plaintext_in_free_pages_or_the_wal(tmp_path: Path) -> None:
    copy = tmp_path / "legacy.db"
    shutil.copyfile(LEGACY_STAMPED, copy)
    assert any(mark in copy.read_bytes() for mark in SECRET_MARKS)
    migrate.upgrade(f"sqlite:///{copy}")
    for path in tmp_path.iterdir():  # the database, and its -wal / -shm files if any are left
        data = path.read_bytes()
        assert not any(mark in data for mark in SECRET_MARKS), path.name


def test_upgrade_without_a_secret_key_refuses_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "legacy.db"
    shutil.copyfile(LEGACY_UNVERSIONED, copy)
    url = f"sqlite:///{copy}"
    migrate.upgrade(url, "64971bd2b79a")
    result = run_cli("secureai", "db", "upgrade", env={"DATABASE_URL": url, "SECUREAI_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECUREAI_SECRET_KEY is required to seal the credentials" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    engine = create_engine(url)
    assert migrate.current_revisions(engine) == ("64971bd2b79a",)
    assert _rows_containing(engine, "sk-legacy-")  # untouched, not half-migrated
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM targets")).scalar_one() == 0
    engine.dispose()


def test_downgrade_restores_the_legacy_text_and_needs_the_same_key(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(legacy_url)
    with engine.connect() as connection:
        before = dict(connection.execute(text("SELECT id, CAST(model_config AS TEXT) FROM scans")).all())
    engine.dispose()
    migrate.upgrade(legacy_url)
    monkeypatch.setenv("SECUREAI_SECRET_KEY", "aruhLzl5BoMcdqrXjtI8QXG2aCMebsV-2X2nt4DpuYHooDkal4m40OUB1mMmZmmK")
    from app.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(MigrationPreconditionError, match="cannot restore legacy credentials"):
        migrate.downgrade(legacy_url, "64971bd2b79a")
    monkeypatch.setenv("SECUREAI_SECRET_KEY", TEST_SECRET_KEY)
    get_settings.cache_clear()
    migrate.downgrade(legacy_url, "64971bd2b79a")
    engine = create_engine(legacy_url)
    with engine.connect() as connection:
        after = dict(connection.execute(text("SELECT id, CAST(model_config AS TEXT) FROM scans")).all())
        assert connection.execute(text("SELECT COUNT(*) FROM targets")).scalar_one() == 0
    assert after == before  # byte for byte
    engine.dispose()
