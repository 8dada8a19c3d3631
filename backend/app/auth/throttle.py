"""Failed-login accounting and lockout, per account and per client address, in `login_throttles`.

Two counters slow a password guesser down: `user:<name>` stops guessing at one account from many addresses,
`ip:<address>` stops one address from trying one password at many accounts (spraying), so its threshold is
higher (an office behind one NAT address shares it). After the threshold each further failure locks the key
for twice as long as the one before, up to a cap. A key that stays quiet long enough is forgotten.

The account key is built from whatever name was typed, existing or not, and is locked the same way, so the
lockout answers never reveal which accounts exist. A success clears the account key but not the address key:
otherwise a sprayer holding one valid account could reset its own counter between guesses.

Functions here flush but never commit; failures must be committed even though the login is refused.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import LoginThrottle, utcnow

_KEY_NAME_LENGTH = 200  # usernames are at most 50 characters; longer input is no account, only a key


@dataclass(frozen=True)
class ThrottlePolicy:
    """Thresholds and lock durations (candidate settings)."""

    account_failures: int = 5
    ip_failures: int = 20
    base_lockout: timedelta = timedelta(seconds=30)
    max_lockout: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def lockout(self, failures_over: int) -> timedelta:
        """Lock duration after the threshold was reached and `failures_over` more failures followed."""
        doubled: timedelta = self.base_lockout * (2 ** min(failures_over, 20))
        return min(doubled, self.max_lockout)


DEFAULT_POLICY = ThrottlePolicy()


def account_key(username: str) -> str:
    """The key of an account, existing or not: case-insensitive, so `Alice` and `alice` share a counter."""
    return f"user:{username.replace(chr(0), '').lower()[:_KEY_NAME_LENGTH]}"


def ip_key(ip: str | None) -> str | None:
    """The key of a client address; IPv6 clients are grouped by /64, which one subscriber usually holds whole."""
    ip = (ip or "").replace("\x00", "")
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"ip:{ip[:45]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"ip:{address}"


def _keys(username: str, ip: str | None) -> list[str]:
    address = ip_key(ip)
    return [account_key(username)] + ([address] if address else [])


def check(session: Session, username: str, ip: str | None, *, now: datetime | None = None) -> int | None:
    """Seconds until this account and address may try again (whole seconds, at least 1), or None if not locked."""
    now = now or utcnow()
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(_keys(username, ip))))
    remaining = [
        (row.locked_until - now).total_seconds() for row in rows if row.locked_until and row.locked_until > now
    ]
    return max(1, math.ceil(max(remaining))) if remaining else None


def record_failure(
    session: Session,
    username: str,
    ip: str | None,
    *,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> int | None:
    """Count a failed login; returns the seconds of lockout it caused (the longest of both keys), or None."""
    now = now or utcnow()
    thresholds = {account_key(username): policy.account_failures}
    address = ip_key(ip)
    if address:
        thresholds[address] = policy.ip_failures
    locked = [_bump(session, key, threshold, now, policy) for key, threshold in thresholds.items()]
    seconds = [(until - now).total_seconds() for until in locked if until is not None]
    return math.ceil(max(seconds)) if seconds else None


def record_success(session: Session, username: str) -> None:
    """Forget the account's failures after a successful login (the address key is kept, see module docstring)."""
    clear(session, username)


def clear(session: Session, username: str) -> None:
    """Unlock an account at once (an administrator reset its password or re-enabled it)."""
    session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.key == account_key(username))
        .execution_options(synchronize_session="fetch")
    )


def _bump(session: Session, key: str, threshold: int, now: datetime, policy: ThrottlePolicy) -> datetime | None:
    """Add one failure to `key` under a row lock; returns until when the key is locked, if it is."""
    _ensure_row(session, key, now)
    row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    assert row is not None  # just inserted or already there, and we hold the lock
    locked = row.locked_until is not None and row.locked_until > now
    quiet_since = max(row.updated_at, row.locked_until or row.updated_at)
    if not locked and now - quiet_since > policy.forget_after:
        row.failures = 0
    row.failures += 1
    if row.failures >= threshold:
        until = now + policy.lockout(row.failures - threshold)
        row.locked_until = max(until, row.locked_until) if locked and row.locked_until else until
    row.updated_at = now
    session.flush()
    return row.locked_until if row.locked_until and row.locked_until > now else None


def _ensure_row(session: Session, key: str, now: datetime) -> None:
    """Insert the key's row unless it exists, without failing when a concurrent login inserts it first."""
    values = {"key": key, "failures": 0, "updated_at": now}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(LoginThrottle).values(values).on_conflict_do_nothing(index_elements=["key"]))
    elif dialect == "sqlite":
        session.execute(sqlite.insert(LoginThrottle).values(values).on_conflict_do_nothing(index_elements=["key"]))
    elif session.get(LoginThrottle, key) is None:  # pragma: no cover - other databases are not supported
        session.add(LoginThrottle(**values))
        session.flush()
