"""`secureai worker`: run queued scans (SECUREAI_QUEUE=celery), as many processes on as many machines as needed."""

from __future__ import annotations

import logging
import os
import socket
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from app.cli.output import ExitCode, console, fail
from app.config import MissingSecretKeyError, get_settings
from app.db.errors import describe_db_error
from app.db.migrate import current_revisions, head_revisions
from app.db.session import get_engine


def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="Scans run at once (default SECUREAI_WORKER_CONCURRENCY).")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Take scans off the queue and run them, until Ctrl-C or SIGTERM (running scans stop checkpointed and
    another worker continues them). Needs the database, the broker and SECUREAI_SECRET_KEY; docs/scale-out.md."""
    from app.jobs.celery_app import Reaper, broker_problem, create_celery, shown_url

    settings = get_settings()
    try:
        settings.require_secret_key()
    except MissingSecretKeyError as error:
        fail(str(error), ExitCode.USAGE)
    try:
        current, heads = current_revisions(get_engine()), head_revisions()
    except SQLAlchemyError as error:
        fail(f"cannot reach the database: {describe_db_error(error)}", ExitCode.UNREACHABLE)
    if set(current) != set(heads):
        fail("the database is not at the head revision; run `secureai db upgrade` first")
    trouble = broker_problem(settings)
    if trouble:
        fail(trouble, ExitCode.UNREACHABLE)
    if settings.queue != "celery":
        console.print("note: SECUREAI_QUEUE is not `celery` here; the server must have it for scans to reach workers")
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request sent to the target is noise
    name = f"secureai-{os.getpid()}@{socket.gethostname()}"
    workers = concurrency or settings.worker_concurrency
    console.print(
        f"worker {name}: queue {settings.queue_name} on {shown_url(settings.broker_url.get_secret_value())}, "
        f"{workers} scan(s) at once",
        highlight=False,
        soft_wrap=True,
    )
    celery = create_celery(settings)
    reaper = Reaper(celery, settings, name)
    reaper.start()
    try:
        celery.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={workers}",
                f"--loglevel={loglevel}",
                f"--queues={settings.queue_name}",
                f"--hostname={name}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        reaper.stop()
