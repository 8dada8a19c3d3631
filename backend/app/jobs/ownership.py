"""Which worker runs a scan, when many workers share one queue: claims on the scan row, and the reaper's list.

The database, not the broker, decides. A worker runs a scan only after claiming its row in one UPDATE: a
pending scan, or a running one whose heartbeat is older than SECUREAI_SCAN_STALE_S (its worker died). Of two
workers given the same scan (a message delivered twice, a scan queued again by the reaper) exactly one wins;
the other drops its message. A worker beats (`heartbeat_at`) every few seconds while it runs a scan.

The reaper lists what needs queueing again: running scans whose worker stopped beating, and pending scans no
worker took within the stale time (a broker restarted without persistence loses its queue). Queueing one
twice is harmless, since only a claim runs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from app.db.enums import ScanStatus
from app.db.models import Scan, utcnow

__all__ = ["claim", "needing_a_worker", "platform_scan"]


def platform_scan() -> Any:
    """The scans the platform started: a legacy scan left pending or running by the earlier deployment was
    never ours to run (and its target, made from its configuration, may be incomplete)."""
    return and_(Scan.target_id.is_not(None), Scan.attempts_planned.is_not(None))


def claim(session: Session, scan_id: int, stale_s: float, *, now: datetime | None = None) -> bool:
    """Take scan `scan_id` for this worker (committed by the caller); False when another worker has it or it
    has ended."""
    now = now or utcnow()
    stale = now - timedelta(seconds=stale_s)
    result = session.execute(
        update(Scan)
        .where(
            Scan.id == scan_id,
            platform_scan(),
            or_(
                Scan.status == ScanStatus.PENDING,
                and_(
                    Scan.status == ScanStatus.RUNNING,
                    or_(Scan.heartbeat_at.is_(None), Scan.heartbeat_at < stale),
                ),
            ),
        )
        .values(status=ScanStatus.RUNNING, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def needing_a_worker(session: Session, stale_s: float, *, now: datetime | None = None) -> list[int]:
    """Scans to queue again: running without a heartbeat for `stale_s`, or pending for longer than that.

    A pending scan listed here gets `heartbeat_at` set to now (as "queued again at"), so each round of the
    reaper queues it at most once per stale period while it waits behind other scans.
    """
    now = now or utcnow()
    stale = now - timedelta(seconds=stale_s)
    quiet = or_(Scan.heartbeat_at.is_(None), Scan.heartbeat_at < stale)
    orphaned = list(
        session.scalars(
            select(Scan.id).where(platform_scan(), Scan.status == ScanStatus.RUNNING, quiet).order_by(Scan.id)
        )
    )
    waiting = list(
        session.scalars(
            select(Scan.id)
            .where(platform_scan(), Scan.status == ScanStatus.PENDING, Scan.created_at < stale, quiet)
            .order_by(Scan.id)
        )
    )
    if waiting:
        session.execute(
            update(Scan)
            .where(Scan.id.in_(waiting))
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
    return orphaned + waiting
