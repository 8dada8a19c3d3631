"""Authenticated encryption of stored secrets (target API keys and headers) under SECUREAI_SECRET_KEY.

AES-256-GCM from `cryptography`, with the key derived from the secret key by HKDF-SHA256, so the operator's
key never encrypts anything directly and each purpose gets its own key. A sealed value reads
`v1.<key id>.<base64url(nonce | ciphertext | tag)>`; the key id (a digest of the derived key, not the key)
says which secret key sealed it, which is what `secureai secrets rotate-key` and error messages need.
The purpose is also authenticated data: a value sealed for one purpose does not open as another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
TARGET_CREDENTIALS = "target-credentials"
_NONCE_BYTES = 12


class SecretDecryptError(Exception):
    """A sealed value could not be opened: wrong key, tampered with, or not a sealed value at all."""


@dataclass(frozen=True)
class SealingKey:
    """A purpose-bound AES-256-GCM key derived from the operator's secret key."""

    purpose: str
    key: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"secureai-key-id|" + self.key).hexdigest()[:12]

    @classmethod
    def derive(cls, secret_key: str, purpose: str = TARGET_CREDENTIALS) -> SealingKey:
        if not secret_key:
            raise ValueError("an empty secret key cannot protect anything")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"secureai/v1", info=purpose.encode())
        return cls(purpose, hkdf.derive(secret_key.encode("utf-8")))


def seal(data: dict[str, Any], key: SealingKey) -> str:
    """Encrypt a JSON-able mapping; a fresh random nonce each time, so equal inputs give different outputs."""
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    sealed = AESGCM(key.key).encrypt(nonce, plaintext, key.purpose.encode())
    return f"{VERSION}.{key.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def sealed_key_id(value: str) -> str:
    """The id of the key that sealed `value` (SecretDecryptError if it is not a sealed value)."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise SecretDecryptError("not a sealed secret")
    return parts[1]


def unseal(value: str, key: SealingKey) -> dict[str, Any]:
    """Decrypt what `seal` produced with the same key; SecretDecryptError says why it could not."""
    key_id = sealed_key_id(value)
    if key_id != key.key_id:
        raise SecretDecryptError(
            f"sealed with key {key_id}, but the configured SECUREAI_SECRET_KEY is key {key.key_id}; "
            "use the key it was sealed with, or `secureai secrets rotate-key` from that key"
        )
    try:
        raw = base64.urlsafe_b64decode(value.split(".")[2].encode())
        plaintext = AESGCM(key.key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], key.purpose.encode())
    except (ValueError, InvalidTag):
        raise SecretDecryptError("the sealed secret was altered or is corrupt") from None
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise SecretDecryptError("the sealed secret is not a mapping")
    return data
