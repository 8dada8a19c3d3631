"""Targets: connector settings in the clear, credentials sealed, and the engine configuration built from both.

The settings are validated by the engine's own `TargetConfig` on the way in, so a stored target is always one
the scanner can use. Credentials (API key, secret headers) are sealed with the key derived from
SECUREAI_SECRET_KEY and only ever opened in memory, to hand them to a connector (`engine_config`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.core.crypto import SealingKey, SecretDecryptError, seal, sealed_key_id, unseal
from app.db.legacy_secrets import MARKER
from app.db.models import Target
from app.engine.targets.config import TargetConfig, TargetConfigError
from app.engine.targets.egress import EgressError, EgressPolicy


class TargetNameTakenError(ValueError):
    """Another target already has this name."""


def current_key() -> SealingKey:
    """The sealing key derived from the configured SECUREAI_SECRET_KEY (MissingSecretKeyError if none)."""
    return SealingKey.derive(get_settings().require_secret_key())


def _refuse_server_side_sources(settings: Mapping[str, Any]) -> None:
    """Refuse settings that make the server read its own environment, files or code.

    On an operator's command line (`secureai scan -t target.yaml`) these are conveniences; a platform target is
    written by analysts over the API, and `api_key_env: SECUREAI_SECRET_KEY`, `api_key_file: /etc/...` or a
    `${NAME}` header pointed at an endpoint of their choosing would hand them the server's secrets, and a
    `python` target would run server code. The platform takes credentials only as sealed values.
    """
    if settings.get("type") == "python":
        raise TargetConfigError(
            "python targets run code inside the server; scan them from the command line (`secureai scan -t`)"
        )
    for field in ("api_key_env", "api_key_file"):
        if settings.get(field):
            raise TargetConfigError(
                f"`{field}` would read the server's own {field.rsplit('_', 1)[1]}; send the key itself as "
                "`api_key` (it is stored sealed)"
            )
    headers = settings.get("headers")
    if isinstance(headers, Mapping) and any("${" in str(value) for value in headers.values()):
        raise TargetConfigError(
            "header values may not refer to the server's environment (${NAME}); send them as `secret_headers`"
        )


#: Bounds of the settings that cost the server, for platform targets (inclusive; docs/targets.md). A target
#: file on the command line is the operator's own machine and keeps the engine's wider limits.
PLATFORM_BOUNDS: dict[str, tuple[float | None, float]] = {
    "timeout_s": (None, 300),
    "max_concurrency": (None, 64),
    "max_retries": (None, 10),
    "backoff_base_s": (None, 60),
    "backoff_max_s": (None, 300),
    "requests_per_minute": (1, 100_000),
    "tokens_per_minute": (100, 100_000_000),
    "max_tokens": (None, 65_536),
}


def _check_platform_bounds(config: TargetConfig) -> None:
    for field, (low, high) in PLATFORM_BOUNDS.items():
        value = getattr(config, field)
        if value is None:
            continue
        if value > high:
            raise TargetConfigError(f"invalid target ({field}): at most {high:g} for a platform target")
        if low is not None and value < low:
            raise TargetConfigError(f"invalid target ({field}): at least {low:g} for a platform target")


def validate_settings(name: str, settings: Mapping[str, Any]) -> TargetConfig:
    """The engine's view of `settings`; TargetConfigError (one line) when they are not a usable target.

    Besides the engine's own validation (base_url http(s) with a real host, no control characters), the
    settings that cost the server are bounded (`PLATFORM_BOUNDS`).
    """
    if "api_key" in settings:
        raise TargetConfigError("the API key is a credential: send it as `api_key`, not inside the settings")
    _refuse_server_side_sources(settings)
    try:
        config = TargetConfig.model_validate({**settings, "name": name})
    except ValueError as error:
        raise TargetConfigError(_first_error(error)) from None
    _check_platform_bounds(config)
    return config


@functools.lru_cache(maxsize=8)
def _policy_for(spec: str) -> EgressPolicy:
    return EgressPolicy.from_spec(spec)


def egress_policy() -> EgressPolicy:
    """The platform's egress policy (SECUREAI_TARGET_ALLOW), for every connector the platform builds."""
    return _policy_for(get_settings().effective_target_allow)


def check_egress(config: TargetConfig) -> None:
    """Save-time check of where the target leads (its base_url, or the type's default): TargetConfigError when
    the egress policy refuses an address the host resolves to now. Every connection is checked again."""
    url = config.effective_base_url()
    if not url:
        return
    try:
        egress_policy().check_destination(url)
    except EgressError as error:
        raise TargetConfigError(str(error)) from None


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        return f"invalid target ({where}): {first['msg']}"
    return str(error)


def _stored_settings(config: TargetConfig) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_none=True, exclude={"name"})


def _sealed(api_key: str | None, headers: Mapping[str, str] | None, key: SealingKey) -> str | None:
    secrets: dict[str, Any] = {}
    if api_key:
        secrets["api_key"] = api_key
    if headers:
        secrets["headers"] = dict(headers)
    return seal({"secrets": secrets}, key) if secrets else None


def _ensure_free_name(session: Session, name: str, exclude_id: int | None = None) -> None:
    query = select(Target.id).where(Target.name == name)
    if exclude_id is not None:
        query = query.where(Target.id != exclude_id)
    if session.scalar(query) is not None:
        raise TargetNameTakenError(f"a target named {name!r} already exists")


def create_target(
    session: Session,
    *,
    name: str,
    settings: Mapping[str, Any],
    api_key: str | None = None,
    secret_headers: Mapping[str, str] | None = None,
    created_by: int | None = None,
) -> Target:
    """Validate and add a target (flushed, not committed: the caller owns the transaction)."""
    config = validate_settings(name, settings)
    check_egress(config)
    _ensure_free_name(session, name)
    target = Target(
        name=name,
        type=config.type,
        settings=_stored_settings(config),
        credentials=_sealed(api_key, secret_headers, current_key()),
        created_by=created_by,
    )
    session.add(target)
    session.flush()
    return target


def update_target(
    session: Session,
    target: Target,
    *,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    api_key: str | None = None,
    secret_headers: Mapping[str, str] | None = None,
    clear_credentials: bool = False,
) -> Target:
    """Change what is given; credentials are replaced only when new ones (or `clear_credentials`) are given."""
    new_name = name or target.name
    if name and name != target.name:
        _ensure_free_name(session, name, exclude_id=target.id)
    if settings is not None or name:
        config = validate_settings(new_name, settings if settings is not None else target.settings)
        check_egress(config)
        target.type, target.settings = config.type, _stored_settings(config)
    target.name = new_name
    if clear_credentials:
        target.credentials = None
    elif api_key or secret_headers:
        target.credentials = _sealed(api_key, secret_headers, current_key())
    session.flush()
    return target


def credentials_of(target: Target, key: SealingKey | None = None) -> dict[str, Any]:
    """The target's opened secrets ({"api_key": ..., "headers": {...}}); empty when it has none."""
    if not target.credentials:
        return {}
    return dict(unseal(target.credentials, key or current_key()).get("secrets", {}))


def engine_config(target: Target, key: SealingKey | None = None) -> TargetConfig:
    """The configuration a connector needs, with the credentials opened in memory only."""
    if target.settings.get(MARKER):
        raise TargetConfigError(
            f"target {target.name!r} was made from a legacy scan configuration and is not complete; "
            "update its settings (type, base_url, model) before scanning it"
        )
    secrets = credentials_of(target, key)
    return validate_settings(target.name, target.settings).with_credentials(
        secrets.get("api_key"), secrets.get("headers")
    )


@dataclass(frozen=True)
class RekeyReport:
    """What `reseal_all` did."""

    resealed: int
    already_current: int
    without_credentials: int


def reseal_all(session: Session, old: SealingKey, new: SealingKey) -> RekeyReport:
    """Re-encrypt every target's credentials from `old` to `new` (all or nothing: the caller commits).

    Values already sealed with `new` are left alone, so an interrupted rotation can simply be run again.
    A value sealed with neither key stops the rotation with a SecretDecryptError naming the target.
    """
    resealed = current = empty = 0
    for target in session.scalars(select(Target).order_by(Target.id)):
        if not target.credentials:
            empty += 1
            continue
        if sealed_key_id(target.credentials) == new.key_id:
            current += 1
            continue
        try:
            opened = unseal(target.credentials, old)
        except SecretDecryptError as error:
            raise SecretDecryptError(f"target {target.name!r} (id {target.id}): {error}") from None
        target.credentials = seal(opened, new)
        resealed += 1
    session.flush()
    return RekeyReport(resealed, current, empty)
