"""Who runs scan jobs. The embedded default is a worker thread inside `secureai serve`; with
`SECUREAI_QUEUE=celery` the API queues scans on Redis for `secureai worker` processes (app.jobs.celery_app),
behind the same calls.

The in-process worker owns one asyncio loop in a daemon thread and runs queued scans there, a few at a time.
On start it picks up every scan left `pending` or `running` by an earlier process (a crash, a restart), so a
server killed mid-scan continues it on restart: the attempts already in the database are not sent again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db.enums import ScanStatus
from app.db.models import Scan
from app.jobs.ownership import platform_scan
from app.jobs.scan_job import fail_unexpected, run_scan

log = logging.getLogger("secureai.jobs")


class Dispatcher(Protocol):
    """Runs scans somewhere; the API only ever submits and cancels through this."""

    def start(self) -> list[int]:
        """Begin taking work; returns the ids of the scans it resumed."""
        ...

    def submit(self, scan_id: int) -> None:
        """Queue the scan; returns at once."""
        ...

    def stop(self) -> None:
        """Stop taking work; running scans stay resumable."""
        ...


class InProcessDispatcher:
    """Runs scans on an asyncio loop in a background thread of this process (at most `parallel` at once)."""

    def __init__(self, sessions: sessionmaker[Session], parallel: int = 2) -> None:
        self.sessions = sessions
        self.parallel = parallel
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="secureai-scans", daemon=True)
        self._stop = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None
        self._running: dict[int, Future[ScanStatus]] = {}

    def start(self) -> list[int]:
        """Start the worker and resume the scans an earlier process left unfinished; returns their ids."""
        self._thread.start()
        self._slots = asyncio.run_coroutine_threadsafe(self._make_semaphore(), self._loop).result()
        with self.sessions() as session:
            unfinished = list(
                session.scalars(
                    select(Scan.id)
                    .where(Scan.status.in_([ScanStatus.PENDING, ScanStatus.RUNNING]), platform_scan())
                    .order_by(Scan.id)
                )
            )
        for scan_id in unfinished:
            self.submit(scan_id)
        if unfinished:
            log.info("resuming %d unfinished scan(s): %s", len(unfinished), unfinished)
        return unfinished

    async def _make_semaphore(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.parallel)

    def submit(self, scan_id: int) -> None:
        if scan_id in self._running and not self._running[scan_id].done():
            return
        self._running[scan_id] = asyncio.run_coroutine_threadsafe(self._run(scan_id), self._loop)

    async def _run(self, scan_id: int) -> ScanStatus:
        assert self._slots is not None
        async with self._slots:
            if self._stop.is_set():
                return ScanStatus.RUNNING
            try:
                status = await run_scan(self.sessions, scan_id, self._stop)
            except DBAPIError as error:  # the database went away: the scan stays resumable (checkpointed)
                log.error(
                    "scan %s interrupted by a database error (%s); it resumes on restart", scan_id, type(error).__name__
                )
                return ScanStatus.RUNNING
            except Exception as error:  # a bug must not kill the worker, nor leave the scan `running` for ever
                log.error("scan %s stopped by an unexpected %s", scan_id, type(error).__name__)
                try:
                    return fail_unexpected(self.sessions, scan_id, error)
                except DBAPIError:
                    return ScanStatus.RUNNING
            log.info("scan %s ended %s", scan_id, status.value)
            return status

    def wait(self, scan_id: int, timeout: float | None = None) -> ScanStatus:
        """Block until the scan's job ends (tests, the demo)."""
        return self._running[scan_id].result(timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        wait_for(list(self._running.values()), timeout=30)  # _run never raises; each job checkpointed and left
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def make_dispatcher(sessions: sessionmaker[Session], settings: Settings | None = None) -> Dispatcher:
    """The dispatcher SECUREAI_QUEUE names: the in-process worker, or the Celery queue."""
    settings = settings or get_settings()
    if settings.queue == "celery":
        from app.jobs.celery_app import CeleryDispatcher  # Celery is imported only where it is used

        return CeleryDispatcher(settings)
    return InProcessDispatcher(sessions)
