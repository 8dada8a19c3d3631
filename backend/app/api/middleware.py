"""Cross-cutting HTTP hardening: security headers on every answer, and a cap on request bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

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
