"""`secureai start`: what a container (or a service manager) runs to bring the server up.

In order: refuse without SECUREAI_SECRET_KEY (outside demo mode), wait for the database and, with
SECUREAI_QUEUE=celery, for the broker (they may start after us), apply the migrations unless told not to
(SECUREAI_MIGRATE_ON_START=0 or --no-migrate), then serve. The same command runs as a plain process: the
deployment test drives it against the real PostgreSQL and Redis. docs/deploy.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.cli.output import ExitCode, console, fail
from app.config import MissingSecretKeyError, Settings, get_settings
from app.db.errors import describe_db_error
from app.db.session import make_engine

#: Seconds between two attempts to reach the database or the broker.
POLL_S = 1.0


def database_problem(url: str) -> str | None:
    """Why the database cannot be reached, in one line, or None when it answers a query."""
    if make_url(url).get_backend_name() == "postgresql":
        engine = create_engine(url, connect_args={"connect_timeout": 3})  # a silent host is an answer in 3 s
    else:
        engine = make_engine(url)  # the embedded SQLite file's directory is made as the server would
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return describe_db_error(error)
    finally:
        engine.dispose()
    return None


def wait_for(what: str, problem: Callable[[], str | None], timeout_s: float) -> None:
    """Poll `problem` until it returns None; after `timeout_s` seconds exit 3 with its last answer."""
    deadline = time.monotonic() + timeout_s
    said = False
    while (trouble := problem()) is not None:
        if time.monotonic() >= deadline:
            fail(f"gave up waiting for {what} after {timeout_s:g} s: {trouble}", ExitCode.UNREACHABLE)
        if not said:
            console.print(f"waiting for {what}: {trouble}", highlight=False, soft_wrap=True)
            said = True
        time.sleep(POLL_S)
    console.print(f"{what} is up", highlight=False, soft_wrap=True)


def _shown_database(settings: Settings) -> str:
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def start(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the database and the broker before giving up.")
    ] = 60.0,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate", help="Apply the migrations first (default: SECUREAI_MIGRATE_ON_START, on)."
        ),
    ] = None,
) -> None:
    """Start the server as a deployment does: check the secret key, wait for the database (and the broker when
    SECUREAI_QUEUE=celery), apply the migrations (`secureai db upgrade`), then serve (`secureai serve`)."""
    import uvicorn

    settings = get_settings()
    try:
        settings.require_secret_key()
    except MissingSecretKeyError as error:
        fail(str(error), ExitCode.USAGE)
    url = settings.effective_database_url
    wait_for(f"the database {_shown_database(settings)}", lambda: database_problem(url), wait)
    if settings.queue == "celery":
        from app.jobs.celery_app import broker_problem, shown_url

        wait_for(
            f"the broker {shown_url(settings.broker_url.get_secret_value())}", lambda: broker_problem(settings), wait
        )
    if settings.migrate_on_start if migrate is None else migrate:
        from app.cli.db import upgrade

        upgrade(revision="head", backup=False, json_output=False)
    else:
        console.print("migrations not applied at start (SECUREAI_MIGRATE_ON_START=0 or --no-migrate)")
    console.print(f"serving on http://{host}:{port} (readiness: /ready)", highlight=False)
    sys.stdout.flush()  # what came before is in the log before the server's own lines, also when stdout is a file
    uvicorn.run("app.main:app", host=host, port=port, log_level=settings.log_level.lower())
