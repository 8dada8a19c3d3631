"""Passwords: argon2id for new hashes, legacy bcrypt still verifies (72-byte truncation included)."""

from __future__ import annotations

import bcrypt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.auth.passwords import hash_password, needs_rehash, verify_password


def test_new_hashes_are_argon2id_and_verify() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert verify_password("correct horse battery staple", hashed)
    assert not verify_password("wrong", hashed)
    assert not needs_rehash(hashed)


def test_legacy_bcrypt_verifies_and_asks_for_rehash() -> None:
    legacy = bcrypt.hashpw(b"legacy-admin-pass", bcrypt.gensalt(rounds=4)).decode()
    assert verify_password("legacy-admin-pass", legacy)
    assert not verify_password("legacy-admin-pas", legacy)
    assert needs_rehash(legacy)


def test_bcrypt_truncation_at_72_bytes_matches_legacy_behaviour() -> None:
    long_password = "é" * 40  # 80 bytes in UTF-8
    legacy = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    assert verify_password(long_password, legacy)


@pytest.mark.parametrize("garbage", ["", "plaintext", "$2b$04$short", "$argon2id$broken"])
def test_malformed_hashes_never_verify(garbage: str) -> None:
    assert not verify_password("anything", garbage)
    assert needs_rehash(garbage)


@settings(max_examples=15, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_unicode_password_round_trips(password: str) -> None:
    assert verify_password(password, hash_password(password))
