"""API tokens for CI and scripts: `sai_<prefix>_<secret>`, shown once, stored as a SHA-256 digest.

Why SHA-256 and not argon2 as for passwords: a slow hash protects *low-entropy* secrets, which an attacker
holding the table could guess one candidate at a time. The secret part here is 256 random bits; no amount of
guessing finds a preimage of its SHA-256, slow or fast. A slow hash would only add tens of milliseconds and
an easy denial-of-service lever to every API call that presents a token.

The prefix is public: it is stored in clear, shown in listings and logs, and lets an operator (or a secret
scanner) recognise and revoke a leaked token without ever seeing the secret.

Functions here flush but never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from app.auth.rbac import can_grant, effective_role
from app.db.enums import UserRole
from app.db.models import ApiToken, User, utcnow

TOKEN_SCHEME = "sai"  # noqa: S105 - the public scheme part of a token, not a secret
PREFIX_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # lower case, no 0/o, 1/l/i: readable aloud and in logs
PREFIX_LENGTH = 8
SECRET_BYTES = 32
NAME_MAX_LENGTH = 100
#: last_used_at is written at most this often per token, so a busy CI job does not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_PRESENTED_LENGTH = 200


class ApiTokenError(Exception):
    """Base of API token errors; the message is fit for the person who made the request."""


class ApiTokenRequestError(ApiTokenError):
    """A token cannot be created as asked (no name, expiry in the past, disabled user)."""


class ApiTokenCeilingError(ApiTokenError):
    """The requested role is above what the creating user may grant."""


class ApiTokenNotFoundError(ApiTokenError):
    """No such token (or not one of this user's)."""


class InvalidApiTokenError(ApiTokenError):
    """A presented token was refused; `reason` is for the audit log, the client only learns "invalid"."""

    def __init__(self, reason: str, *, prefix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.prefix = prefix


@dataclass(frozen=True)
class CreatedApiToken:
    """A new token: `token` is the only copy of the secret, to be shown to its owner once and then dropped."""

    token: str = field(repr=False)
    record: ApiToken


def token_digest(token: str) -> str:
    """SHA-256 hex of the whole token string, the form kept in `api_tokens.token_hash`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_prefix(token: str) -> str | None:
    """The public prefix of a well-formed token, or None: `sai_<8 alphabet chars>_<secret>`."""
    if len(token) > _MAX_PRESENTED_LENGTH:
        return None
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME or not parts[2]:
        return None
    prefix = parts[1]
    if len(prefix) != PREFIX_LENGTH or any(char not in PREFIX_ALPHABET for char in prefix):
        return None
    return prefix


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _new_prefix(session: Session) -> str:
    for _ in range(5):
        prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        if session.scalar(select(ApiToken.id).where(ApiToken.prefix == prefix)) is None:
            return prefix
    raise RuntimeError("could not find a free API token prefix")  # pragma: no cover - 31**8 possibilities


def create(
    session: Session,
    user: User,
    name: str,
    role: UserRole,
    expires_at: datetime | None = None,
    *,
    now: datetime | None = None,
) -> CreatedApiToken:
    """Create a token acting for `user` with at most `role`; the returned `token` is never stored or shown again."""
    now = now or utcnow()
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise ApiTokenRequestError(f"a token needs a name of 1 to {NAME_MAX_LENGTH} characters")
    if user.is_active is False:
        raise ApiTokenRequestError("a disabled user cannot have API tokens")
    if not can_grant(user.role, role):
        raise ApiTokenCeilingError(f"a user with role {user.role.value} cannot create a token with role {role.value}")
    if expires_at is not None:
        expires_at = _naive_utc(expires_at)
        if expires_at <= now:
            raise ApiTokenRequestError("the expiry date of a token must be in the future")
    prefix = _new_prefix(session)
    token = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    record = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        token_hash=token_digest(token),
        role=role,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return CreatedApiToken(token=token, record=record)


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> tuple[User, UserRole]:
    """The user a token acts for and the role it acts with (see rbac.effective_role); InvalidApiTokenError if not.

    Refuses malformed, unknown, revoked and expired tokens, and tokens of disabled users.
    """
    now = now or utcnow()
    prefix = parse_prefix(token)
    if prefix is None:
        raise InvalidApiTokenError("malformed")
    record = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if record is None or not hmac.compare_digest(record.token_hash, token_digest(token)):
        raise InvalidApiTokenError("unknown", prefix=prefix)
    if record.revoked_at is not None:
        raise InvalidApiTokenError("revoked", prefix=prefix)
    if record.expires_at is not None and record.expires_at <= now:
        raise InvalidApiTokenError("expired", prefix=prefix)
    user = session.get(User, record.user_id)
    if user is None or user.is_active is False:
        raise InvalidApiTokenError("user disabled", prefix=prefix)
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        record.last_used_at = now
        session.flush()
    return user, effective_role(user.role, record.role)


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    """Tokens (of one user, or all), oldest first; revoked and expired ones included so history stays visible."""
    query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke(session: Session, token_id: int, *, user_id: int | None = None, now: datetime | None = None) -> ApiToken:
    """Revoke one token (restricted to `user_id`'s tokens if given); revoking twice keeps the first time."""
    record = session.get(ApiToken, token_id)
    if record is None or (user_id is not None and record.user_id != user_id):
        raise ApiTokenNotFoundError(f"no API token with id {token_id}")
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()
        session.flush()
    return record


def clamp_to_role(session: Session, user_id: int, role: UserRole) -> int:
    """Lower the stored ceiling of each live token of a user to what it acts as under `role` (a demotion);
    returns how many tokens were lowered. A later promotion then does not raise them again."""
    lowered = 0
    for record in session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))):
        clamped = effective_role(role, record.role)
        if clamped != record.role:
            record.role = clamped
            lowered += 1
    session.flush()
    return lowered


def revoke_all_for_user(session: Session, user_id: int, *, now: datetime | None = None) -> int:
    """Revoke every live token of a user; returns how many there were."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount
