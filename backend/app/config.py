"""Settings, read from the environment and an optional `.env` file.

Every setting has an environment variable; docs/configuration.md lists them all and a test keeps that page in
step with this class. One code base serves the laptop (SQLite, in-process worker) and the team deployment
(PostgreSQL, Redis): only these values differ.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "secureai"
DEMO_KEY_FILE = "demo-secret.key"


def normalise_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form that psql and pg_dump use; we always drive psycopg 3."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url.removeprefix(plain)
    return url


class MissingSecretKeyError(RuntimeError):
    """Raised when a command needs SECUREAI_SECRET_KEY and none is configured outside demo mode."""


class Settings(BaseSettings):
    """All configuration of a SecureAI process."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        validation_alias="SECUREAI_DATA_DIR",
        description="Directory for the embedded SQLite database, backups and the demo key.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL. Default: sqlite:///<SECUREAI_DATA_DIR>/secureai.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname (postgresql:// is accepted too).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias="SECUREAI_SECRET_KEY",
        description="Key that signs tokens and encrypts target credentials. Required unless SECUREAI_DEMO=1.",
    )
    demo: bool = Field(
        default=False,
        validation_alias="SECUREAI_DEMO",
        description="Demo mode: a random secret key is generated once and kept in the data directory.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="SECUREAI_LOG_LEVEL", description="Log level of the server and CLI."
    )
    db_pool_size: int = Field(
        default=5, ge=1, validation_alias="SECUREAI_DB_POOL_SIZE", description="PostgreSQL connection pool size."
    )
    db_max_overflow: int = Field(
        default=10,
        ge=0,
        validation_alias="SECUREAI_DB_MAX_OVERFLOW",
        description="Extra PostgreSQL connections allowed above the pool size under load.",
    )
    migrations_dir: Path | None = Field(
        default=None,
        validation_alias="SECUREAI_MIGRATIONS_DIR",
        description="Alternative Alembic script directory (a fork's migrations, or a test's branch). "
        "Default: the migrations shipped in app/db/migrations.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=5000,
        ge=0,
        validation_alias="SECUREAI_SQLITE_BUSY_TIMEOUT_MS",
        description="How long an SQLite writer waits for a lock before failing.",
    )
    queue: Literal["inprocess", "celery"] = Field(
        default="inprocess",
        validation_alias="SECUREAI_QUEUE",
        description="Who runs scans: `inprocess` (a worker thread inside `secureai serve`) or `celery` "
        "(queued on SECUREAI_BROKER_URL and run by `secureai worker` processes on any machine).",
    )
    broker_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias="SECUREAI_BROKER_URL",
        description="The Celery broker when SECUREAI_QUEUE=celery (Redis). Never logged.",
    )
    queue_name: str = Field(
        default="secureai.scans",
        min_length=1,
        max_length=100,
        validation_alias="SECUREAI_QUEUE_NAME",
        description="The broker queue scans are sent to (several deployments can share one Redis).",
    )
    worker_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        validation_alias="SECUREAI_WORKER_CONCURRENCY",
        description="Scans one worker runs at once.",
    )
    scan_stale_s: float = Field(
        default=60.0,
        gt=0,
        validation_alias="SECUREAI_SCAN_STALE_S",
        description="A running scan whose worker showed no sign of life for this long is taken over by another "
        "worker (workers beat every few seconds).",
    )
    cookie_secure: bool = Field(
        default=False,
        validation_alias="SECUREAI_COOKIE_SECURE",
        description="Mark the dashboard's session cookies Secure even when the request arrived over plain HTTP "
        "(behind a proxy that terminates TLS). Requests that arrive over HTTPS always get Secure cookies.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        return normalise_database_url(value) if value else None

    @property
    def effective_database_url(self) -> str:
        """The URL in use: DATABASE_URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'secureai.db'}"

    def require_secret_key(self) -> str:
        """Return the secret key; in demo mode make (once) and reuse a random one kept in the data dir."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        if not self.demo:
            raise MissingSecretKeyError(
                "SECUREAI_SECRET_KEY is not set. Set it to a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
                "or set SECUREAI_DEMO=1 for a local demo."
            )
        key_file = self.data_dir / DEMO_KEY_FILE
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            key_file.chmod(0o600)
        return key_file.read_text(encoding="utf-8").strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache when they change the environment)."""
    return Settings()
