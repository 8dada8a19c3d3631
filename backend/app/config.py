"""Settings, read from the environment and an optional `.env` file.

Every setting has an environment variable; docs/configuration.md lists them all and a test keeps that page in
step with this class. One code base serves the laptop (SQLite, in-process worker) and the team deployment
(PostgreSQL, Redis): only these values differ.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import string
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "secureai"
DEMO_KEY_FILE = "demo-secret.key"
#: What demo mode lets platform targets reach on loopback: the simulator of `secureai demo` (--target-port).
DEMO_TARGET_ALLOW = "127.0.0.1/32:8900-8999"


def normalise_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form that psql and pg_dump use; we always drive psycopg 3."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url.removeprefix(plain)
    return url


#: The earlier SecureAI deployment's variable names, read when the new one is unset (docs/configuration.md,
#: "Names of the earlier deployment"): legacy name -> the variable it stands for.
LEGACY_NAMES = {"SECRET_KEY": "SECUREAI_SECRET_KEY", "REDIS_URL": "SECUREAI_BROKER_URL"}
log = logging.getLogger("secureai.config")


class _LegacyNames(PydanticBaseSettingsSource):
    """The old names (LEGACY_NAMES), from the environment or `.env`: a value is taken only when its new name is
    unset or empty in both (an empty `SECUREAI_SECRET_KEY=` line, as in .env.example, counts as unset), and then
    with a warning naming the new variable. It has no value to give otherwise, so it can come before them."""

    def __init__(self, settings_cls: type[BaseSettings], sources: tuple[Mapping[str, str | None], ...]) -> None:
        super().__init__(settings_cls)
        self.sources = sources  # environment first, then .env; names lower-cased as pydantic-settings reads them

    def _lookup(self, name: str) -> str | None:
        for variables in self.sources:
            value = variables.get(name.lower())
            if value:
                return value
        return None

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the variables itself

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for old, new in LEGACY_NAMES.items():
            value = self._lookup(old)
            if value is not None and self._lookup(new) is None:
                log.warning("%s (the earlier deployment's name) is used as %s, which is unset; rename it", old, new)
                values[new] = value
        return values


class MissingSecretKeyError(RuntimeError):
    """Raised when a command needs SECUREAI_SECRET_KEY and none is configured outside demo mode."""


class WeakSecretKeyError(MissingSecretKeyError):
    """SECUREAI_SECRET_KEY is set but guessable (see `secret_key_problem`); handled like a missing key."""


#: A key must carry at least this many bits of (estimated) entropy outside the demo: 32 bytes.
MIN_SECRET_KEY_BITS = 256
GENERATE_KEY_HINT = "generate one with `secureai secrets generate-key`"
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "-_+/=")
#: Rejected outright: a key in which a chunk of this many bits appears twice, or a run of _MAX_RUN equal or
#: consecutive characters ("aaaa...", "abcdef...", "98765..."), is a pattern, not randomness.
_REPEAT_CHUNK_BITS = 32
_MAX_RUN = 8


def _alphabet_bits(key: str) -> float:
    """Bits per character of the smallest usual alphabet holding every character of `key`."""
    characters = set(key)
    if characters <= _HEX and (not characters & set("abcdef") or not characters & set("ABCDEF")):
        return 4.0  # hexadecimal, one case
    if characters <= _BASE64:
        return 6.0  # base64 / base64url
    return math.log2(95)  # printable ASCII; anything else is not credited more than that


def _longest_run(key: str) -> int:
    """The longest stretch of characters each equal to, or one code point above (or each below) the previous."""
    longest = run = 1
    step: int | None = None
    for before, after in itertools.pairwise(key):
        delta = ord(after) - ord(before)
        if delta not in (-1, 0, 1):
            run, step = 1, None
        elif delta == step:
            run += 1
        else:
            run, step = 2, delta
        longest = max(longest, run)
    return longest


def secret_key_problem(key: str) -> str | None:
    """Why `key` is too weak to be SECUREAI_SECRET_KEY, or None when it is strong enough (docs/auth.md).

    The estimate is the key's length times the bits per character of its alphabet (hex 4, base64 6, other
    printable 6.6), so 64 hex or 43 base64url characters of a random source reach MIN_SECRET_KEY_BITS. That
    figure is only credited to a key that looks random: it must use at least half the distinct characters a
    random string of its length would, repeat no chunk of _REPEAT_CHUNK_BITS bits (8 hex, 6 base64
    characters), and hold no run of _MAX_RUN equal or consecutive characters. A random key fails these with
    negligible probability; a placeholder, a word with padding or a keyboard walk fails at least one.
    """
    bits = len(key) * _alphabet_bits(key)
    if bits < MIN_SECRET_KEY_BITS:
        return f"it holds at most {int(bits)} bits of entropy, {MIN_SECRET_KEY_BITS} are needed"
    alphabet = 2 ** _alphabet_bits(key)
    expected_distinct = alphabet * (1 - (1 - 1 / alphabet) ** len(key))
    if len(set(key)) < expected_distinct / 2:
        return f"it uses only {len(set(key))} distinct characters, a random key of its length uses about " + str(
            round(expected_distinct)
        )
    size = math.ceil(_REPEAT_CHUNK_BITS / _alphabet_bits(key))
    seen: dict[str, int] = {}
    for index in range(len(key) - size + 1):
        chunk = key[index : index + size]
        if chunk in seen and index - seen[chunk] >= size:
            return "it repeats a part of itself"
        seen.setdefault(chunk, index)
    if _longest_run(key) >= _MAX_RUN:
        return "it contains a run of repeated or consecutive characters"
    return None


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
    migrate_on_start: bool = Field(
        default=True,
        validation_alias="SECUREAI_MIGRATE_ON_START",
        description="`secureai start` (the container's entry) applies the migrations before it serves; 0 where "
        "an operator runs `secureai db upgrade` by hand (docs/deploy.md).",
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
    secret_header_names: str = Field(
        default="",
        max_length=2000,
        validation_alias="SECUREAI_SECRET_HEADER_NAMES",
        description="Comma-separated header names that carry credentials in your deployment (e.g. "
        "`X-Tenant-Key`), sealed like the API key when a target is saved. Authorization, Proxy-Authorization, "
        "X-Api-Key, Api-Key, Cookie, X-Auth-Token, X-Goog-Api-Key and any name containing token, secret, password, "
        "apikey, api-key, api_key or session are always sealed.",
    )
    target_tests_per_user: int = Field(
        default=2,
        ge=1,
        le=20,
        validation_alias="SECUREAI_TARGET_TESTS_PER_USER",
        description="Target tests (`POST /targets/{id}/test`, the dashboard's Test button) one user may have "
        "in flight at once; more are answered 429 with Retry-After.",
    )
    default_attacker_target: str | None = Field(
        default=None,
        max_length=200,
        validation_alias="SECUREAI_DEFAULT_ATTACKER_TARGET",
        description="Name of a stored target that scans use as their attacker model (the model that writes the "
        "adaptive attacks pair, tap and crescendo) when the scan request does not choose one; an explicit null "
        "in the request means none. Unset: no attacker unless a scan names one.",
    )
    default_judge_target: str | None = Field(
        default=None,
        max_length=200,
        validation_alias="SECUREAI_DEFAULT_JUDGE_TARGET",
        description="Name of a stored target that scans use as their judge model (grades answers on each probe's "
        "rubric) when the scan request does not choose one; an explicit null means none. Unset: no judge unless "
        "a scan names one.",
    )
    scan_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        validation_alias="SECUREAI_SCAN_RETENTION_DAYS",
        description="Ended scans older than this many days (by their end) are deleted, with their attempts and "
        "findings, by `secureai db prune` (run it daily, e.g. from cron); each deletion is audited and the audit "
        "log itself is kept. Unset: scans are kept until someone deletes them.",
    )
    cookie_secure: bool = Field(
        default=False,
        validation_alias="SECUREAI_COOKIE_SECURE",
        description="Mark the dashboard's session cookies Secure even when the request arrived over plain HTTP "
        "(behind a proxy that terminates TLS). Requests that arrive over HTTPS always get Secure cookies.",
    )

    target_allow: str = Field(
        default="",
        validation_alias="SECUREAI_TARGET_ALLOW",
        description="Non-public addresses platform targets may reach, as `cidr[:port|port-port]` rules separated by "
        "commas, e.g. `127.0.0.1/32:8900-8999,10.0.0.0/8`. Public addresses are always allowed; loopback, private, "
        "CGNAT and other non-public ones only when a rule covers them; link-local and cloud metadata addresses "
        f"never. With SECUREAI_DEMO=1, `{DEMO_TARGET_ALLOW}` (the demo simulator) is added. See docs/targets.md.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual order (arguments, environment, `.env`, secrets files), with the earlier deployment's
        variable names (LEGACY_NAMES) read where the new names are unset or empty."""
        sources = (env_settings, dotenv_settings)
        read = tuple(source.env_vars for source in sources if isinstance(source, EnvSettingsSource))
        legacy = _LegacyNames(settings_cls, read)
        return init_settings, legacy, env_settings, dotenv_settings, file_secret_settings

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        return normalise_database_url(value) if value else None

    @field_validator("default_attacker_target", "default_judge_target")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("target_allow")
    @classmethod
    def _valid_allow_rules(cls, value: str) -> str:
        if value.strip():  # imported only when set: the engine's parser, so the server and the scans agree
            from app.engine.targets.egress import parse_allow

            parse_allow(value)  # EgressError (a ValueError) names the rule that is wrong
        return value

    @property
    def effective_target_allow(self) -> str:
        """SECUREAI_TARGET_ALLOW, plus the demo simulator's loopback ports in demo mode."""
        return f"{self.target_allow},{DEMO_TARGET_ALLOW}" if self.demo else self.target_allow

    @property
    def effective_database_url(self) -> str:
        """The URL in use: DATABASE_URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'secureai.db'}"

    def require_secret_key(self) -> str:
        """Return the secret key; in demo mode make (once) and reuse a random one kept in the data dir."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            key = self.secret_key.get_secret_value()
            problem = None if self.demo else secret_key_problem(key)
            if problem is not None:
                raise WeakSecretKeyError(f"SECUREAI_SECRET_KEY is too weak: {problem}; {GENERATE_KEY_HINT}.")
            return key
        if not self.demo:
            raise MissingSecretKeyError(
                f"SECUREAI_SECRET_KEY is not set. Set it to a long random value ({GENERATE_KEY_HINT}), "
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
