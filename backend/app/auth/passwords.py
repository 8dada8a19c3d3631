"""Password hashing: argon2id for new passwords, bcrypt verification for legacy hashes.

Legacy SecureAI stored bcrypt hashes (`$2b$...`), computed over the first 72 bytes of the password. Such a hash
still verifies here; `needs_rehash` then tells the login code to store an argon2id hash instead.
"""

from __future__ import annotations

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_argon2 = PasswordHasher()  # argon2id with the library's current recommended parameters
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_MAX_BYTES = 72


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _argon2.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """True if `password` matches `hashed`, whether argon2id or legacy bcrypt; False for anything else."""
    if hashed.startswith(BCRYPT_PREFIXES):
        candidate = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
        try:
            return bcrypt.checkpw(candidate, hashed.encode("ascii"))
        except ValueError:
            return False
    try:
        return _argon2.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """True for legacy bcrypt hashes and for argon2 hashes made with weaker parameters than today's."""
    if hashed.startswith(BCRYPT_PREFIXES):
        return True
    try:
        return _argon2.check_needs_rehash(hashed)
    except InvalidHashError:
        return True
