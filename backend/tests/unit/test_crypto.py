"""Sealing stored secrets: round trip, wrong key, tampering, purpose binding, fresh nonces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.crypto import SealingKey, SecretDecryptError, seal, sealed_key_id, unseal

KEY = SealingKey.derive("correct horse battery staple")


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=5))
def test_seal_then_unseal_gives_back_the_mapping(data: dict[str, str]) -> None:
    assert unseal(seal(data, KEY), KEY) == data


def test_the_sealed_text_does_not_contain_the_secret_and_differs_each_time() -> None:
    first, second = seal({"api_key": "sk-live-123456"}, KEY), seal({"api_key": "sk-live-123456"}, KEY)
    assert "sk-live" not in first and first != second
    assert sealed_key_id(first) == KEY.key_id


def test_another_key_is_refused_with_both_key_ids_named() -> None:
    other = SealingKey.derive("another key")
    with pytest.raises(SecretDecryptError, match=f"sealed with key {KEY.key_id}.*key {other.key_id}"):
        unseal(seal({"a": "b"}, KEY), other)


def test_a_flipped_byte_is_detected() -> None:
    sealed = seal({"api_key": "sk-1"}, KEY)
    version, key_id, body = sealed.split(".")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    with pytest.raises(SecretDecryptError, match="altered"):
        unseal(f"{version}.{key_id}.{flipped}", KEY)


def test_a_value_sealed_for_one_purpose_does_not_open_as_another() -> None:
    other_purpose = SealingKey.derive("correct horse battery staple", purpose="something-else")
    assert other_purpose.key_id != KEY.key_id
    with pytest.raises(SecretDecryptError):
        unseal(seal({"a": "b"}, KEY), other_purpose)


@pytest.mark.parametrize("value", ["", "plain text", "v2.abc.def", "v1.only-two"])
def test_things_that_are_not_sealed_values_are_refused(value: str) -> None:
    with pytest.raises(SecretDecryptError):
        unseal(value, KEY)


def test_an_empty_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        SealingKey.derive("")
