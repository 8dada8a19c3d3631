"""Strip secrets from audit details before they are stored (and hashed: a stored secret could never be removed).

Two rules, applied to a deep copy, at any depth of dicts and lists:

- a value under a key that names a secret is replaced as a whole. The key is compared lower-case with `_`, `-`,
  `.` and spaces removed; it names a secret when it *contains* `password`, `passwd` or `passphrase`, or *ends
  with* one of `SECRET_KEY_SUFFIXES` (so `refresh_token` and `X-Api-Key` are secret, while `max_tokens`,
  `token_count` and `api_key_env`, which name an environment variable, are kept);
- inside any string, substrings that look like credentials (`SECRET_VALUE_PATTERNS`: bearer tokens, `sk-` keys,
  JWTs, SecureAI `sai_` API tokens, GitHub tokens, AWS access key ids, PEM private keys) are replaced, so an
  error message keeps its context but loses the key.

Redacting too much costs a detail in a log line; redacting too little leaks a credential into a table that
cannot be edited. The rules lean accordingly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: What replaces a secret.
REDACTED = "[REDACTED]"

#: A normalised key containing one of these is secret.
SECRET_KEY_WORDS = ("password", "passwd", "passphrase")

#: A normalised key ending with one of these is secret.
SECRET_KEY_SUFFIXES = (
    "secret",
    "token",
    "apikey",
    "secretkey",
    "privatekey",
    "accesskey",
    "authorization",
    "cookie",
    "credential",
    "credentials",
    "sessionid",
    "pwd",
)

#: Credentials recognised by their shape wherever they appear in a string.
SECRET_VALUE_PATTERNS = (
    re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE),  # HTTP bearer credentials
    re.compile(r"\bsk-[A-Za-z0-9_\-]{13,}"),  # OpenAI/Anthropic-style keys, 16 characters or more
    re.compile(r"\beyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*"),  # JWT: base64url JSON header
    re.compile(r"\bsai_[A-Za-z0-9_\-]{8,}"),  # SecureAI API tokens
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),  # GitHub tokens
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
)


#: Every match of every pattern above contains one of these; a string without any is returned as it is, after
#: one scan instead of seven (reports redact hundreds of thousands of strings).
_TRIGGERS = re.compile(r"(?i:bearer)|sk-|eyJ|sai_|gh[pousr]_|github_pat_|AKIA|ASIA|PRIVATE KEY")


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (see the module docstring for the rule)."""
    normalised = re.sub(r"[\s_\-.]", "", key.lower())
    return any(word in normalised for word in SECRET_KEY_WORDS) or normalised.endswith(SECRET_KEY_SUFFIXES)


def redact_text(value: str) -> str:
    """`value` with every substring shaped like a credential replaced by `REDACTED`."""
    if _TRIGGERS.search(value) is None:
        return value
    for pattern in SECRET_VALUE_PATTERNS:
        value = pattern.sub(REDACTED, value)
    return value


def redact_value(value: Any) -> Any:
    """A redacted deep copy of any JSON-able value (tuples come back as lists, as JSON would store them)."""
    if isinstance(value, Mapping):
        return {key: REDACTED if is_secret_key(str(key)) else redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A deep copy of the audit `details` with secrets replaced by `REDACTED`; the argument is not modified."""
    if details is None:
        return None
    redacted: dict[str, Any] = redact_value(details)
    return redacted
