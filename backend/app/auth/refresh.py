"""Refresh tokens: opaque, single use, rotated within a family, stored only as SHA-256 digests.

Each login starts a family; each refresh marks the presented token rotated and issues its successor in the
same family. A rotated token presented again means two parties hold the family (the token was copied), and
we cannot tell which one is the thief, so the whole family is revoked: both must sign in again.

Functions here flush but never commit; `rotate` revokes a family *and then raises*, so the caller must commit
after a RefreshTokenReuseError too, or the revocation is lost with the rollback.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from app.db.models import RefreshToken, User, utcnow

#: Candidate setting: how long a refresh token lives. Each rotation starts a new period (an idle timeout).
REFRESH_TOKEN_TTL = timedelta(days=14)
_TOKEN_BYTES = 32
_MAX_PRESENTED_LENGTH = 512  # anything longer was never ours; do not bother hashing it
REASON_REUSE = "reuse"
REASON_LOGOUT = "logout"


class RefreshTokenError(Exception):
    """A refresh token was refused. `reason` is for the audit log, not for the client."""

    def __init__(self, reason: str, *, user_id: int | None = None, family_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_id = user_id
        self.family_id = family_id


class RefreshTokenReuseError(RefreshTokenError):
    """A rotated token came back: its family is now revoked (flushed; the caller must commit)."""


def token_digest(token: str) -> str:
    """The stored form of a token: SHA-256 hex. The token is 256 random bits, so no slow hash is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clip(value: str | None, length: int) -> str | None:
    """Fit client-supplied text into its column (NUL is dropped: PostgreSQL refuses it in text)."""
    value = (value or "").replace("\x00", "")[:length]
    return value or None


def issue(
    session: Session,
    user: User,
    *,
    family_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store a new refresh token for `user` (a new family unless `family_id`) and return it; shown only now."""
    now = now or utcnow()
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or str(uuid.uuid4()),
            token_hash=token_digest(token),
            issued_at=now,
            expires_at=now + REFRESH_TOKEN_TTL,
            ip_address=_clip(ip, 45),
            user_agent=_clip(user_agent, 255),
        )
    )
    session.flush()
    return token


def find(session: Session, token: str) -> RefreshToken | None:
    """The stored row of `token`, whatever its state, or None."""
    if not token or len(token) > _MAX_PRESENTED_LENGTH:
        return None
    return session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_digest(token)))


def rotate(
    session: Session,
    token: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> tuple[User, str]:
    """Exchange a valid refresh token for its successor; refuse anything else (see the module docstring)."""
    now = now or utcnow()
    row = find(session, token)
    if row is None:
        raise RefreshTokenError("unknown")
    ids: dict[str, Any] = {"user_id": row.user_id, "family_id": row.family_id}
    if row.revoked_at is not None:
        raise RefreshTokenError("revoked", **ids)
    if row.rotated_at is not None:
        _reused(session, row.family_id, now, ids)
    if row.expires_at <= now:
        raise RefreshTokenError("expired", **ids)
    user = session.get(User, row.user_id)
    if user is None or user.is_active is False:
        revoke_family(session, row.family_id, "disabled", now=now)
        raise RefreshTokenError("user disabled", **ids)
    # Claim the token atomically: of two concurrent refreshes with one token, only one may win.
    claimed = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(rotated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if cast(CursorResult[Any], claimed).rowcount != 1:
        _reused(session, row.family_id, now, ids)
    return user, issue(session, user, family_id=row.family_id, ip=ip, user_agent=user_agent, now=now)


def _reused(session: Session, family_id: str, now: datetime, ids: dict[str, Any]) -> None:
    revoke_family(session, family_id, REASON_REUSE, now=now)
    raise RefreshTokenReuseError("reuse", **ids)


def revoke_family(session: Session, family_id: str, reason: str, *, now: datetime | None = None) -> int:
    """Revoke every token of a family (one login session) not revoked yet; returns how many that was."""
    return _revoke(session, RefreshToken.family_id == family_id, reason, now)


def revoke_all_for_user(session: Session, user_id: int, reason: str, *, now: datetime | None = None) -> int:
    """Revoke every live token of a user: all their sessions end (disable, role change, password reset)."""
    return _revoke(session, RefreshToken.user_id == user_id, reason, now)


def _revoke(session: Session, criterion: Any, reason: str, now: datetime | None) -> int:
    result = session.execute(
        update(RefreshToken)
        .where(criterion, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow(), revoked_reason=reason[:50])
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount
