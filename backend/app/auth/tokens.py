"""Short-lived access tokens: HS256 JWTs signed with a key derived from SECUREAI_SECRET_KEY.

The signing key comes from HKDF over the operator's secret with its own purpose string (the pattern of
`app.core.crypto`), so the raw secret is never an HMAC key and a leaked signing key says nothing about the
key that seals target credentials. Decoding accepts exactly one algorithm, our issuer and audience, and
`typ: access`, so neither an unsigned token (`alg: none`), nor a token minted for another service, nor a
future token type can pass as an access token.

Each token carries its user's `session_epoch` (claim `sep`) at the time it was issued; the service refuses a
token whose epoch is older than the user's, which is how a disable, a role change or a password reset ends
every access token issued before it, even after the account is enabled again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import get_settings
from app.db.enums import UserRole
from app.db.models import utcnow

ALGORITHM = "HS256"
ISSUER = "secureai"
AUDIENCE = "secureai-api"
TOKEN_TYPE = "access"  # noqa: S105 - the `typ` claim value, not a secret
SIGNING_PURPOSE = "jwt-signing"
#: Candidate settings: how long an access token lives, and the clock skew tolerated between servers.
ACCESS_TOKEN_TTL = timedelta(minutes=15)
LEEWAY = timedelta(seconds=10)
_REQUIRED_CLAIMS = ["sub", "role", "typ", "iss", "aud", "iat", "exp", "jti"]


class InvalidAccessTokenError(jwt.InvalidTokenError):
    """An access token was refused; `reason` is short and safe to log (never the token itself)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessClaims:
    """The verified content of an access token (timestamps naive UTC, as everywhere in the database)."""

    user_id: int
    role: UserRole
    jti: str
    issued_at: datetime
    expires_at: datetime
    epoch: int = 0


@lru_cache(maxsize=4)
def _derive(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"secureai/v1", info=SIGNING_PURPOSE.encode())
    return hkdf.derive(secret_key.encode("utf-8"))


def signing_key(secret_key: str | None = None) -> bytes:
    """The 32-byte HMAC key for access tokens, derived from `secret_key` (default: the configured one)."""
    secret = secret_key if secret_key is not None else get_settings().require_secret_key()
    if not secret:
        raise ValueError("an empty secret key cannot sign anything")
    return _derive(secret)


def issue_access_token(
    user_id: int,
    role: UserRole,
    *,
    ttl: timedelta = ACCESS_TOKEN_TTL,
    now: datetime | None = None,
    secret_key: str | None = None,
    epoch: int = 0,
) -> str:
    """A signed access token for `user_id` acting as `role`, valid for `ttl` from `now` (naive UTC), issued in
    the user's session `epoch`."""
    issued = (now or utcnow()).replace(tzinfo=UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),  # RFC 7519: a string
        "role": UserRole(role).value,
        "typ": TOKEN_TYPE,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "sep": int(epoch),
    }
    return jwt.encode(claims, signing_key(secret_key), algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret_key: str | None = None) -> AccessClaims:
    """Verify `token` and return its claims, or raise InvalidAccessTokenError saying why not."""
    key = signing_key(secret_key)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidAccessTokenError("malformed token") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise InvalidAccessTokenError("unsigned token (alg none)")
    if algorithm != ALGORITHM:
        raise InvalidAccessTokenError(f"algorithm {algorithm[:20]} not allowed")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.InvalidTokenError as error:
        raise InvalidAccessTokenError(_reason(error)) from None
    return _claims(payload)


def _reason(error: jwt.InvalidTokenError) -> str:
    """A short reason for a refusal by PyJWT (most specific classes first: several derive from others)."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim {error.claim}"
    reasons: list[tuple[type[jwt.InvalidTokenError], str]] = [
        (jwt.ExpiredSignatureError, "expired"),
        (jwt.InvalidSignatureError, "bad signature"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.InvalidAlgorithmError, "algorithm not allowed"),
        (jwt.ImmatureSignatureError, "not valid yet"),
        (jwt.DecodeError, "malformed token"),
    ]
    for kind, reason in reasons:
        if isinstance(error, kind):
            return reason
    return "invalid token"


def _claims(payload: dict[str, Any]) -> AccessClaims:
    """Check the claims PyJWT does not know about and convert them to typed values."""
    if payload.get("typ") != TOKEN_TYPE:
        raise InvalidAccessTokenError("wrong token type")
    subject, jti = payload["sub"], payload["jti"]
    if not isinstance(subject, str) or not subject.isdigit():
        raise InvalidAccessTokenError("bad subject")
    if not isinstance(jti, str) or not jti:
        raise InvalidAccessTokenError("bad token id")
    try:
        role = UserRole(payload["role"])
    except (ValueError, TypeError):
        raise InvalidAccessTokenError("unknown role") from None
    epoch = payload.get("sep", 0)  # tokens from before the claim existed count as epoch 0
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise InvalidAccessTokenError("bad session epoch")
    return AccessClaims(
        user_id=int(subject),
        role=role,
        jti=jti,
        issued_at=datetime.fromtimestamp(payload["iat"], UTC).replace(tzinfo=None),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC).replace(tzinfo=None),
        epoch=epoch,
    )
