"""Audit records of refusals (a bearer token refused, a permission denied, a CSRF check failed), rate-limited.

Refusals are what an attacker produces in bulk, so each is recorded at most `LIMIT` times per `WINDOW_S` seconds
per (kind, source), where the source is the user for a permission denial and the client address otherwise. The
first refusal over the limit writes one `audit_suppressed` record naming the kind, the source and the limit;
the rest of that window is counted in memory only, and the first record of the next window says how many were
left out (`suppressed_before`). A flood therefore costs at most LIMIT + 1 rows per source and minute.

The counters live in the process (each server process limits on its own), which bounds the rows a flood can
write without adding a write of its own to every refused request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.audit.log import record
from app.db.session import get_sessionmaker

#: Records per (kind, source) and window, and the window's length in seconds.
LIMIT = 10
WINDOW_S = 60.0
#: Kinds of refusal, which are also the audit actions written for them.
AUTH_REFUSED = "auth_refused"
PERMISSION_DENIED = "permission_denied"
CSRF_FAILED = "csrf_failed"
SUPPRESSED = "audit_suppressed"
#: Sources tracked at most; beyond this the oldest windows are forgotten (a flood from many addresses).
_MAX_SOURCES = 10_000


@dataclass
class _Window:
    started: float
    written: int = 0
    suppressed: int = 0


class _Limiter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[tuple[str, str], _Window] = {}

    def decide(self, kind: str, source: str) -> tuple[str | None, int]:
        """What to write for one more refusal: the action (None: nothing) and the count suppressed before."""
        now = time.monotonic()
        with self.lock:
            key = (kind, source)
            window = self.windows.get(key)
            carried = 0
            if window is None or now - window.started >= WINDOW_S:
                carried = window.suppressed if window is not None else 0
                window = self.windows[key] = _Window(now)
                if len(self.windows) > _MAX_SOURCES:
                    oldest = min(self.windows, key=lambda item: self.windows[item].started)
                    del self.windows[oldest]
            if window.written < LIMIT:
                window.written += 1
                return kind, carried
            window.suppressed += 1
            return (SUPPRESSED, 0) if window.suppressed == 1 else (None, 0)

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()


_limiter = _Limiter()


def reset() -> None:
    """Forget every window (tests, which reuse user ids and addresses across databases in one process)."""
    _limiter.reset()


def record_refusal(
    session: Session,
    kind: str,
    *,
    source: str,
    user_id: int | None = None,
    details: Mapping[str, object] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> bool:
    """Add the audit record of a refusal to `session` unless the rate limit says otherwise; the caller commits.

    Returns whether a row was added (the refusal's own, or the one `audit_suppressed` of its window).
    """
    action, carried = _limiter.decide(kind, source)
    if action is None:
        return False
    if action == SUPPRESSED:
        written: dict[str, object] = {"kind": kind, "source": source, "limit": LIMIT, "window_s": int(WINDOW_S)}
    else:
        written = {**(details or {})}
        if carried:
            written["suppressed_before"] = carried
    record(
        session,
        action,
        user_id=user_id,
        details=written,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    return True


def record_refusal_now(
    kind: str,
    *,
    source: str,
    user_id: int | None = None,
    details: Mapping[str, object] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """`record_refusal` in a session of its own, committed at once (for a request that has no session)."""
    with get_sessionmaker()() as session:
        if record_refusal(
            session,
            kind,
            source=source,
            user_id=user_id,
            details=details,
            ip_address=ip_address,
            user_agent=user_agent,
        ):
            session.commit()
