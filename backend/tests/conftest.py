"""Shared fixtures: isolated settings, temporary SQLite and PostgreSQL databases, the legacy samples.

PostgreSQL tests use the server at SECUREAI_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test),
each in a database of its own that is dropped afterwards; when the server cannot be reached they skip and say so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.config import get_settings, normalise_database_url
from app.db.session import get_engine, get_sessionmaker
from app.db.tempdb import temporary_database

BACKEND_DIR = Path(__file__).resolve().parents[1]
LEGACY_DIR = BACKEND_DIR / "tests" / "fixtures" / "legacy"
LEGACY_STAMPED = LEGACY_DIR / "secureai-legacy.db"
LEGACY_UNVERSIONED = LEGACY_DIR / "secureai-legacy-unversioned.db"
POSTGRES_URL = normalise_database_url(
    os.environ.get("SECUREAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)


def _postgres_unreachable_reason() -> str | None:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {str(error.orig).strip().splitlines()[0]}"
    finally:
        engine.dispose()
    return None


_PG_REASON = _postgres_unreachable_reason()


def service_missing(reason: str) -> NoReturn:
    """Skip a test whose real service (PostgreSQL, Redis, the local model) is missing, with the reason; under
    CI (`CI=true`) fail instead: CI must run every test, so a missing service is a broken pipeline."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: every service the tests use must be running)", pytrace=False)
    pytest.skip(reason)


#: A strong key of the shape `secureai secrets generate-key` prints (a weak one is refused outside the demo).
TEST_SECRET_KEY = "pcHs3KPkWLZ3sb4s6xJl_pDJPVwwr96vQmdCkPSWglxN4A_-xjZG7dmUs2_AJJLV"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data directory, no inherited DATABASE_URL, and the test secret key."""
    for name in ("DATABASE_URL", "SECUREAI_DEMO", "SECRET_KEY", "REDIS_URL"):  # the last two: legacy names
        monkeypatch.delenv(name, raising=False)
    # a fixed key, as an operator would have: legacy upgrades seal credentials with it (tests that need no
    # key delete it themselves)
    monkeypatch.setenv("SECUREAI_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("SECUREAI_DATA_DIR", str(tmp_path / "data"))
    # the test servers, simulators and listeners that platform targets point at run on 127.0.0.1 (any port);
    # the egress tests narrow this themselves
    monkeypatch.setenv("SECUREAI_TARGET_ALLOW", "127.0.0.1/32")
    monkeypatch.chdir(tmp_path)  # so a developer's .env is not read
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    from app.audit import refusals

    refusals.reset()  # the refusal rate limits are per process: one test's refusals must not suppress another's
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()


@pytest.fixture
def postgres_server() -> str:
    """URL of the PostgreSQL server; skips the test with the reason when it is not reachable."""
    if _PG_REASON:
        service_missing(_PG_REASON)
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    server = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
    with temporary_database(server) as url:
        yield url


@pytest.fixture
def legacy_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the stamped legacy sample (the original is never upgraded in place)."""
    copy = tmp_path / "legacy.db"
    shutil.copyfile(LEGACY_STAMPED, copy)
    yield copy


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers the tests start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pdf_text(path: Path) -> str:
    """The text of a PDF as poppler's pdftotext reads it (what a reader could copy out of the document)."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: `make system-deps` installs poppler-utils")
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = BACKEND_DIR, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command of the project's virtualenv as a user would, capturing its output."""
    bin_dir = Path(sys.executable).parent
    full_env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    full_env.update(env or {})
    command = [str(bin_dir / args[0]), *args[1:]] if (bin_dir / args[0]).exists() else list(args)
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def replace_cookie(client: Any, name: str, value: str) -> None:
    """Set cookie `name` in a test client's jar as the server's own Set-Cookie would: in place of any cookie of that
    name (httpx2, which Starlette's TestClient now uses, keeps a cookie set without a domain beside the server's,
    and sends both)."""
    domains = [cookie.domain for cookie in client.cookies.jar if cookie.name == name]
    for domain in domains:
        client.cookies.delete(name, domain=domain)
    client.cookies.set(name, value, domain=domains[0] if domains else "")
