"""The FastAPI application: the API under /api/v1 and the dashboard at /; `uvicorn app.main:app` or `secureai serve`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.api.errors import install_problem_handlers
from app.api.middleware import install_hardening, reject_unstorable_text
from app.api.routes import (
    audit,
    auth,
    compliance,
    findings,
    health,
    overview,
    packs,
    scans,
    targets,
    users,
    workspace,
)
from app.db.session import get_sessionmaker
from app.jobs.dispatch import make_dispatcher
from app.web.app import install_web

API_PREFIX = "/api/v1"
#: Every router mounted under API_PREFIX (the route x role test walks these and the OpenAPI schema).
API_ROUTERS = (
    auth.router,
    users.router,
    targets.router,
    scans.router,
    packs.router,
    findings.router,
    workspace.router,
    compliance.router,
    audit.router,
    overview.router,
)
log = logging.getLogger("secureai.api")


@asynccontextmanager
async def lifespan(application: FastAPI) -> AsyncIterator[None]:
    """Start the scan dispatcher: the in-process worker (resuming scans a previous process left running), or
    the Celery queue's sender (SECUREAI_QUEUE=celery; the workers resume scans)."""
    dispatcher = make_dispatcher(get_sessionmaker())
    application.state.dispatcher = dispatcher
    application.state.resumed_scans = []  # the ids start() picked up again (tests read it: the startup has looked)
    try:
        application.state.resumed_scans = dispatcher.start()
    except SQLAlchemyError as error:  # not migrated or unreachable: /ready says so; scans wait for a restart
        log.warning("scan worker started without resuming scans: %s", error)
    try:
        yield
    finally:
        dispatcher.stop()


def create_app() -> FastAPI:
    """Build the application with its routes, hardening and problem+json error handling."""
    application = FastAPI(
        title="SecureAI",
        version=__version__,
        description="Security testing for LLM applications.",
        # FastAPI's own /docs and /redoc pages load their scripts from a CDN; SecureAI is air-gapped, so /docs
        # is the dashboard's page over a vendored Swagger UI (app/web/routes/api_docs.py)
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # every route, API and dashboard: NUL or a lone surrogate anywhere in a request is a 422 naming the field
        dependencies=[Depends(reject_unstorable_text)],
    )
    install_problem_handlers(application)
    install_hardening(application)
    application.include_router(health.router)
    api = APIRouter(prefix=API_PREFIX)
    for router in API_ROUTERS:
        api.include_router(router)
    application.include_router(api)
    install_web(application)  # the dashboard: pages at /, assets at /static
    return application


app = create_app()
