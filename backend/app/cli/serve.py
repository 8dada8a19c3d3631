"""`secureai serve`: the server (dashboard, API, health)."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.output import ExitCode, fail
from app.config import MissingSecretKeyError, get_settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the server: the dashboard at /, the API at /api/v1 (schema at /openapi.json), /health and /ready."""
    import uvicorn

    settings = get_settings()
    try:
        settings.require_secret_key()
    except MissingSecretKeyError as error:
        fail(str(error), ExitCode.USAGE)
    uvicorn.run("app.main:app", host=host, port=port, reload=reload, log_level=settings.log_level.lower())
