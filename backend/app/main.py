"""The FastAPI application: `uvicorn app.main:app` or `secureai serve`."""

from __future__ import annotations

from fastapi import FastAPI

from app import __version__
from app.api.errors import install_problem_handlers
from app.api.routes import health


def create_app() -> FastAPI:
    """Build the application with its routes and problem+json error handling."""
    application = FastAPI(
        title="SecureAI",
        version=__version__,
        description="Security testing for LLM applications.",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; SecureAI is air-gapped by default,
        # so only the machine-readable schema is served until the Swagger UI assets are vendored.
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(application)
    application.include_router(health.router)
    return application


app = create_app()
