"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.api.errors import problem
from app.config import get_settings
from app.db.errors import describe_db_error
from app.db.migrate import current_revisions, head_revisions
from app.db.session import get_engine

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    """Always 200 while the process runs; it does not touch the database."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the database is reachable and at the head revision (and the broker, with Celery)",
    responses={503: {"description": "Not ready; `detail` says why", "content": {"application/problem+json": {}}}},
)
def ready() -> Any:
    """200 only when the database answers and its revision is the migrations' head; 503 otherwise."""
    heads = head_revisions()
    try:
        current = current_revisions(get_engine())
    except SQLAlchemyError as error:
        return problem(503, f"database unreachable: {describe_db_error(error)}", title="Not ready")
    if set(current) != set(heads):
        at = ", ".join(current) or "no revision (run `secureai db upgrade`)"
        return problem(
            503,
            f"database is at {at}, expected head {', '.join(heads)}; run `secureai db upgrade`",
            title="Not ready",
            current=list(current),
            head=list(heads),
        )
    settings = get_settings()
    if settings.queue == "celery":
        from app.jobs.celery_app import broker_problem

        trouble = broker_problem(settings)
        if trouble:
            return problem(503, f"{trouble}; scans cannot be queued", title="Not ready")
    return JSONResponse({"status": "ready", "revision": list(current), "queue": settings.queue})
