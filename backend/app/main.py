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
    )
    install_problem_handlers(application)
    application.include_router(health.router)
    return application


app = create_app()
