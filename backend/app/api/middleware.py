"""Cross-cutting HTTP hardening: security headers on every answer, a cap on request bodies, and a guard that
refuses text no database can store (NUL, lone surrogates) wherever it is in a request."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from app.api.errors import problem

#: Largest request body accepted (bytes). Target definitions and scan requests are a few kilobytes.
MAX_BODY_BYTES = 1_048_576

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def install_hardening(app: FastAPI) -> None:
    """Add the middleware. CORS is not installed at all: the API answers no cross-origin browser request."""

    @app.middleware("http")
    async def harden(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            response: Response = problem(413, f"request bodies are limited to {MAX_BODY_BYTES} bytes")
        elif declared is None and request.headers.get("transfer-encoding", "").lower() == "chunked":
            response = problem(411, "send a Content-Length; chunked request bodies are not accepted")
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


#: Text no database column can hold: NUL (PostgreSQL refuses it in text and JSON) and lone UTF-16 surrogates
#: (not text at all: "\ud800" in JSON decodes to one, which no UTF-8 column can store).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_MESSAGE = "must not contain NUL (U+0000) or unpaired surrogate characters"


def _field(key: str) -> str:
    """A key as it can be shown in an error: control characters escaped."""
    return key.encode("unicode_escape").decode("ascii")


def _unstorable_in(document: object, root: str) -> tuple[str | int, ...] | None:
    """The location of a string (key or value) in a decoded JSON document that holds unstorable text.

    Iterative, so a deeply nested document cannot exhaust the stack here."""
    stack: list[tuple[object, tuple[str | int, ...]]] = [(document, (root,))]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return where
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if _UNSTORABLE.search(key):
                    return (*where, _field(key))
                stack.append((item, (*where, key)))
        elif isinstance(value, list):
            stack.extend((item, (*where, index)) for index, item in reversed(list(enumerate(value))))
    return None


async def _first_unstorable(request: Request) -> tuple[str | int, ...] | None:
    if _UNSTORABLE.search(request.url.path) or _UNSTORABLE.search(request.scope.get("path", "")):
        return ("path",)
    for key, value in request.query_params.multi_items():
        if _UNSTORABLE.search(key) or _UNSTORABLE.search(value):
            return ("query", _field(key))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        body = await request.body()
        if b"\\u" not in body:  # JSON can only carry these characters as \u escapes: a raw one is invalid JSON
            return None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: the route's own validation answers 422
        return _unstorable_in(document, "body")
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, item in (await request.form()).multi_items():
            if _UNSTORABLE.search(key) or (isinstance(item, str) and _UNSTORABLE.search(item)):
                return ("body", _field(key))
    return None


async def reject_unstorable_text(request: Request) -> None:
    """Refuse NUL and lone surrogates anywhere in a request (path, query, JSON body, form) with a 422 naming
    the field, before any route stores them: one guard for every string the API and the dashboard keep."""
    where = await _first_unstorable(request)
    if where is not None:
        raise RequestValidationError(
            [{"type": "string_unstorable", "loc": where, "msg": _UNSTORABLE_MESSAGE, "input": None}]
        )
