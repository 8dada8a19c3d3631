"""The API's interactive documentation (Swagger UI, vendored) at /docs, over /openapi.json."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.web.templating import page

router = APIRouter()
#: Swagger UI sets style attributes as it draws, so this page (and only this one) allows inline styles; scripts
#: still come from this server only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@router.get("/docs", summary="The API's interactive documentation")
def api_docs(request: Request) -> Response:
    """Public, like the schema it shows: reading the docs needs no account; calling the API does."""
    response = page(request, "api_docs.html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
