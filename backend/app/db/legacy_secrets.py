"""Which parts of a legacy `scans.model_config` are secrets (revision c4e8f1a2b3d5 and its verification).

Frozen with that revision: changing what counts as a secret here would change what an already-written
migration does. A later change of policy needs a new revision with its own copy.
"""

from __future__ import annotations

from typing import Any

SECRET_KEYS = frozenset({"api_key", "apikey", "token", "access_token", "password", "secret", "client_secret"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})
#: Marker in `targets.settings` of the targets revision c4e8f1a2b3d5 made from legacy scans.
MARKER = "migrated_from_legacy_scans"


def split_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public settings, secrets) of one legacy model_config; the key order of the public part is kept.

    Secrets: keys named like credentials, and headers that are credentials by name or carry the API key.
    """
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    api_key = config.get("api_key")
    for key, value in config.items():
        if key.lower() in SECRET_KEYS:
            secret[key] = value
        elif key == "headers" and isinstance(value, dict):
            kept = {}
            for name, header in value.items():
                carries_key = isinstance(api_key, str) and bool(api_key) and api_key in str(header)
                if name.lower() in SECRET_HEADERS or carries_key:
                    secret.setdefault("headers", {})[name] = header
                else:
                    kept[name] = header
            public[key] = kept
        else:
            public[key] = value
    return public, secret
