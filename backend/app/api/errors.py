"""RFC 9457 problem details for every error the API returns.

A client always gets `application/problem+json` with a type, title, status and detail; validation errors
add the field paths. A value the database refuses (out of range, not text it can store) is a 422, whatever
route let it through. An unexpected exception is logged on the server and answered with a generic 500 body,
never a traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("secureai.api")


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).description
    response = problem(error.status_code, detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in item.get("loc", ())), "message": item.get("msg", "")}
        for item in error.errors()
    ]
    return problem(422, "The request is not valid; see `errors` for each field.", errors=errors)


#: What a client is told when the database refused a value; the value itself is never repeated (it may be a secret).
UNSTORABLE_VALUE_DETAIL = "A value in the request is out of range or cannot be stored; nothing was changed."


async def _unstorable_value(request: Request, error: Exception) -> JSONResponse:
    """The last line behind the models' own limits: the database (DataError) or the driver (OverflowError: an
    integer too large for SQLite) refused a value. The transaction is rolled back with the request's session."""
    log.warning("refused a value on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return problem(422, UNSTORABLE_VALUE_DETAIL)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(500, "An unexpected error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with problem+json."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(OverflowError, _unstorable_value)
    app.add_exception_handler(Exception, _unexpected_error)
