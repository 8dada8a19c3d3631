"""Scans on many machines: Celery on Redis (`SECUREAI_QUEUE=celery`).

The API queues a scan's id; `secureai worker` processes, on any machine that reaches the database and the
broker, take ids off the queue and run the scans exactly as the in-process worker does: every attempt is a
committed row, so a scan stopped anywhere continues where it was. Nothing but the id goes through the broker,
and no result comes back through it: status, progress, findings and reports are in the database.

Who runs a scan is decided by a claim on its row (app.jobs.ownership), not by the broker, so a message
delivered twice or queued again runs once. Each worker also runs a reaper: every half stale period one of
them (a Redis lock elects it) queues again the scans whose worker died and those the broker lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import redis
from celery import Celery, signals
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from app.config import Settings, get_settings
from app.db.enums import ScanStatus
from app.db.session import get_sessionmaker
from app.jobs import ownership
from app.jobs.scan_job import run_scan

__all__ = ["TASK_NAME", "CeleryDispatcher", "Reaper", "broker_problem", "create_celery", "shown_url"]

TASK_NAME = "secureai.run_scan"
log = logging.getLogger("secureai.jobs")
#: set when this worker process begins a warm shutdown: running scans stop, checkpointed, for another worker
_shutting_down = threading.Event()
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
_SOCKET_TIMEOUTS = {"socket_connect_timeout": 3, "socket_timeout": 10}


def shown_url(url: str) -> str:
    """The broker URL without its password, for messages (SQLAlchemy's URL parser reads redis:// URLs too)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unparsable broker URL)"


def broker_problem(settings: Settings) -> str | None:
    """Why the broker cannot be used, in one line, or None when it answers."""
    url = settings.broker_url.get_secret_value()
    try:
        redis.Redis.from_url(url, **_SOCKET_TIMEOUTS).ping()
    except (redis.RedisError, ValueError) as error:
        return f"the broker {shown_url(url)} is unreachable: {error}"
    return None


def run_scan_task(scan_id: int) -> str:
    """The task: claim the scan, run it to its end (or to this worker's shutdown); the status it reached."""
    settings = get_settings()
    sessions = get_sessionmaker()
    with sessions() as session, session.begin():
        claimed = ownership.claim(session, scan_id, settings.scan_stale_s)
    if not claimed:
        log.info("scan %s is another worker's or has ended; message dropped", scan_id)
        return "skipped"
    status = asyncio.run(_run_until_shutdown(scan_id))
    log.info("scan %s %s", scan_id, "left for another worker" if status is ScanStatus.RUNNING else status.value)
    return status.value


async def _run_until_shutdown(scan_id: int) -> ScanStatus:
    stop = asyncio.Event()

    async def watch() -> None:
        while not _shutting_down.is_set():
            await asyncio.sleep(0.25)
        stop.set()

    watcher = asyncio.create_task(watch())
    try:
        return await run_scan(get_sessionmaker(), scan_id, stop)
    finally:
        watcher.cancel()


@signals.worker_shutting_down.connect
def _stop_running_scans(**_: Any) -> None:
    _shutting_down.set()


def create_celery(settings: Settings | None = None) -> Celery:
    """The Celery application of SecureAI's scan queue (no result backend: results are in the database)."""
    settings = settings or get_settings()
    app = Celery("secureai", broker=settings.broker_url.get_secret_value(), set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue_name,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # a message is acknowledged when its scan has ended or stopped; a worker killed mid-scan leaves it to
        # be delivered again (and the reaper queues the scan again sooner)
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options={**_SOCKET_TIMEOUTS, "visibility_timeout": 3600},
        task_publish_retry_policy=_PUBLISH_RETRY,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    app.task(name=TASK_NAME, ignore_result=True, acks_late=True)(run_scan_task)
    return app


class CeleryDispatcher:
    """The API's side of the queue: it sends scan ids. Resuming is the workers' reaper's job, not the API's."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.celery = create_celery(self.settings)

    def start(self) -> list[int]:
        return []

    def submit(self, scan_id: int) -> None:
        """Queue the scan; if the broker is down the scan stays pending in the database and a worker's reaper
        queues it once the broker is back (the API still answers 202)."""
        try:
            self.celery.send_task(
                TASK_NAME, args=[scan_id], queue=self.settings.queue_name, retry=True, retry_policy=_PUBLISH_RETRY
            )
        except (KombuOperationalError, redis.RedisError, OSError) as error:
            log.warning("scan %s waits in the database: cannot queue it (%s)", scan_id, error)

    def stop(self) -> None:
        self.celery.close()


class Reaper(threading.Thread):
    """Queues again the scans that need a worker, every half stale period; one reaper per round across all
    workers of the queue (a Redis lock that expires by itself, so a dead worker never holds it)."""

    def __init__(self, celery: Celery, settings: Settings, name: str) -> None:
        super().__init__(name="secureai-reaper", daemon=True)
        self.celery, self.settings, self.worker = celery, settings, name
        self.interval = max(settings.scan_stale_s / 2, 0.5)
        self.lock_key = f"secureai:{settings.queue_name}:reaper"
        self._stop = threading.Event()

    def run(self) -> None:
        client = redis.Redis.from_url(self.settings.broker_url.get_secret_value(), **_SOCKET_TIMEOUTS)
        while True:
            self.round(client)
            if self._stop.wait(self.interval):
                return

    def round(self, client: redis.Redis) -> list[int]:
        """One round: the ids queued again (empty when another worker's reaper has this round)."""
        try:
            if not client.set(self.lock_key, self.worker, nx=True, px=int(self.interval * 1000)):
                return []
            with get_sessionmaker()() as session, session.begin():
                ids = ownership.needing_a_worker(session, self.settings.scan_stale_s)
            for scan_id in ids:
                self.celery.send_task(TASK_NAME, args=[scan_id], queue=self.settings.queue_name)
        except (redis.RedisError, KombuOperationalError, SQLAlchemyError, OSError) as error:
            log.warning("reaper round skipped: %s", error)
            return []
        if ids:
            log.info("queued again: scan(s) %s", ", ".join(map(str, ids)))
        return ids

    def stop(self) -> None:
        self._stop.set()
