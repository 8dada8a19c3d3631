"""The security tests use the API client (`api`) and the dashboard (`web`) of the integration tests, on SQLite
and PostgreSQL, and recording listeners on 127.0.0.1 (tests/security/listener.py)."""

from __future__ import annotations

from tests.integration.api.conftest import api
from tests.integration.web.conftest import web

__all__ = ["api", "web"]
