"""Targets: connector settings in the clear, credentials sealed, and the engine configuration built from both.

The settings are validated by the engine's own `TargetConfig` on the way in, so a stored target is always one
the scanner can use. Credentials (API key, secret headers) are sealed with the key derived from
SECUREAI_SECRET_KEY and only ever opened in memory, to hand them to a connector (`engine_config`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.core.crypto import SealingKey, SecretDecryptError, seal, sealed_key_id, unseal
from app.db.legacy_secrets import MARKER
from app.db.models import Target
from app.engine.targets.config import SHIPPED_TYPES, TargetConfig, TargetConfigError, target_types
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
    kind = settings.get("type")
    if isinstance(kind, str) and kind not in SHIPPED_TYPES and kind in target_types():
        raise TargetConfigError(
            f"{kind} targets come from an installed plugin, which runs its own code in the server outside the "
            "egress policy; scan them from the command line (`secureai scan -t`)"
        )
    if settings.get("type") == "litellm":
        raise TargetConfigError(
            "litellm targets authenticate with the server's own provider credentials (AWS, Google, ... from its "
            "environment) and connect outside the egress policy; scan them from the command line (`secureai scan -t`)"
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


#: Where a connector sends its requests when `base_url` is left empty (see the connectors).
DEFAULT_ENDPOINTS = {"anthropic": "https://api.anthropic.com", "ollama": "http://127.0.0.1:11434"}
#: Header names that carry credentials whatever the operator says (compared in lower case). A header named like a
#: credential (`SECUREAI_SECRET_HEADER_NAMES` adds names) is sealed instead of being stored among the settings.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "x-auth-token", "x-goog-api-key"}
)
_CREDENTIAL_WORDS = ("token", "secret", "password", "apikey", "api-key", "api_key", "session")


def destination_of(target_type: str, settings: Mapping[str, Any]) -> str | None:
    """Where a target's requests go, as `TYPE SCHEME://HOST:PORT` (None when nothing says yet).

    This is what stored credentials are bound to: the connector type (it decides how the key is sent) and the
    endpoint's scheme, host and port. A path, model or budget change keeps the destination.
    """
    if target_type == "python":
        return f"python {settings.get('callable')}"
    url = settings.get("base_url") or DEFAULT_ENDPOINTS.get(target_type)
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return f"{target_type} {url!r}"
    return f"{target_type} {parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def _legacy_destination(target: Target) -> str | None:
    """Where a target made from legacy scan configurations sent its key: the legacy `endpoint`, or OpenAI's API."""
    legacy = target.settings.get("legacy_config")
    endpoint = legacy.get("endpoint") if isinstance(legacy, Mapping) else None
    if isinstance(endpoint, str) and endpoint:
        return destination_of(target.type, {"base_url": endpoint})
    return destination_of("openai", {"base_url": "https://api.openai.com/v1"}) if target.type == "openai" else None


def is_credential_header(name: str) -> bool:
    """True for a header that carries a credential by its name (built-in list, words, and the operator's list)."""
    lowered = name.strip().lower()
    extra = {item.strip().lower() for item in get_settings().secret_header_names.split(",") if item.strip()}
    return lowered in CREDENTIAL_HEADERS or lowered in extra or any(word in lowered for word in _CREDENTIAL_WORDS)


def clean_credential(value: str, what: str) -> str:
    """A credential without surrounding white space; TargetConfigError (never echoing it) when it holds control
    characters inside, such as a line break pasted in the middle, which would break or split the header."""
    stripped = value.strip()
    if any(ord(character) < 32 or ord(character) == 127 for character in stripped):
        raise TargetConfigError(f"{what} contains a line break or another control character; paste it again")
    if not stripped:
        raise TargetConfigError(f"{what} is empty")
    return stripped


def split_credential_headers(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings without credential headers, those headers): what `settings.headers` holds that must be sealed."""
    headers = settings.get("headers")
    if not isinstance(headers, Mapping):
        return dict(settings), {}
    plain = {name: value for name, value in headers.items() if not is_credential_header(str(name))}
    secret = {str(name): str(value) for name, value in headers.items() if is_credential_header(str(name))}
    kept = {**settings, "headers": plain} if plain else {k: v for k, v in settings.items() if k != "headers"}
    return kept, secret


#: What `shown_settings` puts in place of a clear-text credential header; sent back unchanged, it keeps the value.
MASKED = "[masked: save the target to seal it]"


def shown_settings(target: Target) -> dict[str, Any]:
    """The settings as anyone may see them: a credential-like header stored in the clear by an earlier version
    (before such headers were sealed on save) is shown masked until the target is saved again."""
    headers = target.settings.get("headers")
    if not isinstance(headers, Mapping) or not any(is_credential_header(str(name)) for name in headers):
        return dict(target.settings)
    masked = {name: MASKED if is_credential_header(str(name)) else value for name, value in headers.items()}
    return {**target.settings, "headers": masked}


def _unmasked(settings: Mapping[str, Any], stored: Mapping[str, Any]) -> Mapping[str, Any]:
    """`settings` with each header sent back as MASKED replaced by the value stored in the clear (so editing a
    target shown masked seals its real credential instead of the placeholder)."""
    headers, old = settings.get("headers"), stored.get("headers")
    if not isinstance(headers, Mapping) or not isinstance(old, Mapping):
        return settings
    return {**settings, "headers": {k: old.get(k, v) if v == MASKED else v for k, v in headers.items()}}


def _clean_secrets(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, Any]:
    secrets: dict[str, Any] = {}
    if api_key:
        secrets["api_key"] = clean_credential(api_key, "the API key")
    if headers:
        secrets["headers"] = {
            str(name).strip(): clean_credential(value, f"secret header {str(name).strip()!r}")
            for name, value in headers.items()
        }
    return secrets


def _seal_bound(
    secrets: Mapping[str, Any], destination: str | None, extra: Mapping[str, Any] | None = None
) -> str | None:
    """Seal `secrets` together with the destination they were entered for (None when there is nothing to keep)."""
    data: dict[str, Any] = dict(extra or {})
    if secrets:
        data.update({"secrets": dict(secrets), "bound_to": destination})
    return seal(data, current_key()) if data else None


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
    """Validate and add a target (flushed, not committed: the caller owns the transaction).

    Credential-like headers in `settings.headers` are sealed with the other secrets, and all of them are bound to
    the target's destination (`destination_of`).
    """
    settings, header_secrets = split_credential_headers(settings)
    secrets = _clean_secrets(api_key, {**header_secrets, **(secret_headers or {})})
    config = validate_settings(name, settings)
    check_egress(config)
    _ensure_free_name(session, name)
    stored = _stored_settings(config)
    target = Target(
        name=name,
        type=config.type,
        settings=stored,
        credentials=_seal_bound(secrets, destination_of(config.type, stored)),
        created_by=created_by,
    )
    session.add(target)
    session.flush()
    return target


@dataclass(frozen=True)
class TargetChange:
    """What `update_target` did: where the target pointed before and after, and what became of its credentials."""

    target: Target
    old_destination: str | None
    new_destination: str | None
    credentials_replaced: bool
    credentials_dropped: bool

    @property
    def moved(self) -> bool:
        return self.old_destination != self.new_destination

    def audit_details(self, changed: list[str]) -> dict[str, Any]:
        """The audit record's details: changed fields, and both destinations when the target moved."""
        details: dict[str, Any] = {"changed": changed, "credentials_replaced": self.credentials_replaced}
        if self.moved:
            details["destination"] = {"from": self.old_destination, "to": self.new_destination}
        if self.credentials_dropped:
            details["credentials_dropped"] = True
        return details


def update_target(
    session: Session,
    target: Target,
    *,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    api_key: str | None = None,
    secret_headers: Mapping[str, str] | None = None,
    clear_credentials: bool = False,
) -> TargetChange:
    """Change what is given (flushed, not committed).

    Stored credentials stay bound to the destination they were entered for: a change of type, scheme, host or
    port drops them unless the same call gives new ones (only what it gives is kept). Without a move, a new key
    or new secret headers replace only their own part.
    """
    old_secrets = opened_credentials(target)  # opened once: the destination and legacy originals come from it
    old_destination = _bound_destination(target, old_secrets)
    header_secrets: dict[str, str] = {}
    if settings is not None:
        settings = _unmasked(settings, target.settings)
        settings, header_secrets = split_credential_headers(settings)
    given = _clean_secrets(api_key, {**header_secrets, **(secret_headers or {})})
    new_name = name or target.name
    if name and name != target.name:
        _ensure_free_name(session, name, exclude_id=target.id)
    if settings is not None or name:
        config = validate_settings(new_name, settings if settings is not None else target.settings)
        check_egress(config)
        target.type, target.settings = config.type, _stored_settings(config)
    target.name = new_name
    new_destination = destination_of(target.type, target.settings)
    originals = old_secrets.get("legacy_originals")
    legacy = {"legacy_originals": originals} if originals else {}
    had_secrets = bool(old_secrets.get("secrets"))
    if clear_credentials:
        secrets: dict[str, Any] = {}
    elif old_destination != new_destination:
        secrets = given
    else:
        secrets = {**old_secrets.get("secrets", {}), **given}
    dropped = had_secrets and not clear_credentials and old_destination != new_destination and not given
    if clear_credentials or given or old_destination != new_destination:
        target.credentials = _seal_bound(secrets, new_destination, legacy)
    session.flush()
    return TargetChange(target, old_destination, new_destination, bool(given), dropped)


def _bound_destination(target: Target, opened: Mapping[str, Any]) -> str | None:
    """The destination the target's stored credentials (`opened`, its sealed value) were entered for.

    Values sealed by this version carry it; the legacy originals kept for a downgrade (revision c4e8f1a2b3d5)
    ride along in the same value. Legacy targets' credentials belong to the legacy endpoint; values sealed
    before binding existed belong to where the target points now.
    """
    if "bound_to" in opened:
        return cast("str | None", opened["bound_to"])
    if target.settings.get(MARKER):
        return _legacy_destination(target)
    return destination_of(target.type, target.settings)


def has_credentials(target: Target) -> bool:
    """True when the target holds usable secrets (a sealed value may keep only legacy originals for a downgrade)."""
    if not target.credentials:
        return False
    try:
        return bool(credentials_of(target))
    except SecretDecryptError:
        return True  # sealed with another key: something is there


def opened_credentials(target: Target, key: SealingKey | None = None) -> dict[str, Any]:
    """The target's whole sealed value ({"secrets": {...}, "bound_to": ..., legacy originals}); {} when none."""
    if not target.credentials:
        return {}
    return dict(unseal(target.credentials, key or current_key()))


def credentials_of(target: Target, key: SealingKey | None = None) -> dict[str, Any]:
    """The target's opened secrets ({"api_key": ..., "headers": {...}}); empty when it has none."""
    return dict(opened_credentials(target, key).get("secrets", {}))


def engine_config(target: Target, key: SealingKey | None = None) -> TargetConfig:
    """The configuration a connector needs, with the credentials opened in memory only.

    The credentials are handed over only to the destination they were entered for: a target whose destination
    was changed without re-entering them (which `update_target` does not allow, but a database edited by hand
    could) is refused.
    """
    if target.settings.get(MARKER):
        raise TargetConfigError(
            f"target {target.name!r} was made from a legacy scan configuration and is not complete; "
            "update its settings (type, base_url, model) before scanning it"
        )
    opened = opened_credentials(target, key)
    secrets = opened.get("secrets", {})
    if secrets and "bound_to" in opened and opened["bound_to"] != destination_of(target.type, target.settings):
        raise TargetConfigError(
            f"the credentials of target {target.name!r} were entered for {opened['bound_to']}, not for where it "
            "points now; enter them again"
        )
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
