"""Secrets are cut out of audit details before they are stored; everything else is kept as it was."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.audit.chain import GENESIS_HASH, canonical_bytes, compute_row_hash, normalise_details
from app.audit.redact import REDACTED, SECRET_VALUE_PATTERNS, is_secret_key, redact, redact_text

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
OPENAI_KEY = "sk-proj-4fG7hJ9kL2mN5pQ8rS1tU3vW"


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apikey",
        "API-Key",
        "X-Api-Key",
        "token",
        "access_token",
        "refresh_token",
        "password",
        "new_password",
        "password_confirmation",
        "hashed_password",
        "secret",
        "client_secret",
        "SECUREAI_SECRET_KEY",
        "Authorization",
        "Proxy-Authorization",
        "cookie",
        "Set-Cookie",
        "credentials",
        "private_key",
        "aws_secret_access_key",
    ],
)
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["max_tokens", "prompt_tokens", "token_count", "api_key_env", "username", "action", "key", "target_id"]
)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)


def test_values_under_secret_keys_are_replaced_at_any_depth_and_the_input_is_untouched() -> None:
    details = {
        "username": "alice",
        "password": "hunter2",
        "target": {
            "name": "prod",
            "headers": [{"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, {"Accept": "application/json"}],
            "Credentials": {"user": "svc", "pass": "x"},
        },
        "settings": {"max_tokens": 512, "api_key_env": "OPENAI_API_KEY", "refresh_token": None},
        "counts": [1, 2.5, True, None],
    }
    before = copy.deepcopy(details)
    assert redact(details) == {
        "username": "alice",
        "password": REDACTED,
        "target": {
            "name": "prod",
            "headers": [{"Authorization": REDACTED}, {"Accept": "application/json"}],
            "Credentials": REDACTED,
        },
        "settings": {"max_tokens": 512, "api_key_env": "OPENAI_API_KEY", "refresh_token": REDACTED},
        "counts": [1, 2.5, True, None],
    }
    assert details == before


@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        ("Bearer abcdefghijklmnop.qrstuv", "bearer"),
        ("bearer 0123456789abcdef==", "bearer, lower case"),
        (OPENAI_KEY, "openai"),
        ("sk-ant-api03-AbCdEfGhIjKlMnOp", "anthropic"),
        (JWT, "jwt"),
        ("sai_Ab12Cd34_Ef56Gh78Ij90Kl12", "secureai api token"),
        ("ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2", "github"),
        ("AKIAIOSFODNN7EXAMPLE", "aws"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "pem"),
    ],
)
def test_secret_shaped_values_are_replaced_wherever_they_are(secret: str, kind: str) -> None:
    details = {"message": f"upstream said no to {secret} today", "list": [secret], "nested": {"note": secret}}
    redacted = redact(details)
    assert redacted == {
        "message": f"upstream said no to {REDACTED} today",
        "list": [REDACTED],
        "nested": {"note": REDACTED},
    }, kind
    assert secret not in json.dumps(redacted)


@pytest.mark.parametrize(
    "text",
    [
        "sk-short",  # too short to be a key
        "task-0123456789abcdefgh",  # `sk-` inside a word
        "app.db.models",  # dotted names are not JWTs
        "www.example.com",
        "the bearer of news",
        "login_success from 10.0.0.1",
        "AKIA",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redact_none_and_tuples() -> None:
    assert redact(None) is None
    assert redact({"pair": ("a", OPENAI_KEY)}) == {"pair": ["a", REDACTED]}


def test_canonical_form_is_stable_and_covers_every_field() -> None:
    fields: dict[str, Any] = {
        "prev_hash": GENESIS_HASH,
        "user_id": 7,
        "action": "login_success",
        "resource_type": "user",
        "resource_id": 7,
        "details": {"b": 1, "a": "é"},
        "ip_address": "10.0.0.1",
        "user_agent": "curl/8",
        "created_at": datetime(2026, 1, 2, 3, 4, 5),
    }
    assert canonical_bytes(**fields) == (
        b'{"action":"login_success","created_at":"2026-01-02T03:04:05.000000","details":{"a":"\\u00e9","b":1},'
        b'"ip_address":"10.0.0.1","prev_hash":"' + GENESIS_HASH.encode() + b'","resource_id":7,'
        b'"resource_type":"user","user_agent":"curl/8","user_id":7,"v":1}'
    )
    base = compute_row_hash(**fields)
    # known answer, computed once (and with `sha256sum` over the bytes above): every stored row_hash and every
    # anchor file depends on it. If this changes, `secureai audit verify` reports every existing row as tampered:
    # a new canonical form needs a new CANONICAL_VERSION and verification of both, never an edit of this literal.
    assert base == "2dcde0385b7c8526830bc0538d623bef98e1dabf58630251f895390b8eb33371"
    for name, other in [
        ("prev_hash", "f" * 64),
        ("user_id", 8),
        ("action", "login_failure"),
        ("resource_type", None),
        ("resource_id", 8),
        ("details", {"b": 2, "a": "é"}),
        ("ip_address", "10.0.0.2"),
        ("user_agent", None),
        ("created_at", datetime(2026, 1, 2, 3, 4, 5, 1)),
    ]:
        assert compute_row_hash(**{**fields, name: other}) != base, name


def test_details_are_normalised_as_json_stores_them() -> None:
    odd: dict[Any, Any] = {"t": (1, 2), 3: "x"}
    assert normalise_details(odd) == {"t": [1, 2], "3": "x"}
    with pytest.raises(ValueError, match="JSON"):
        normalise_details({"x": float("nan")})
    with pytest.raises(TypeError):
        normalise_details({"when": datetime(2026, 1, 1)})


_PIECES = [
    "sk-",
    "eyJ",
    "Bearer ",
    "bearer\t",
    "sai_",
    "ghp_",
    "github_pat_",
    "AKIA",
    "ASIA",
    "-----BEGIN ",
    "PRIVATE KEY-----",
]
_PIECES += ["-----END RSA PRIVATE KEY-----", "abcDEF0123456789", "_-.", "XYZ", " ", "\n", "é"]


@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=8), max_size=12).map("".join))
def test_the_prefilter_never_changes_what_the_patterns_redact(text: str) -> None:
    full = text
    for pattern in SECRET_VALUE_PATTERNS:  # every pattern, with no shortcut
        full = pattern.sub(REDACTED, full)
    assert redact_text(text) == full
