"""Property-based run of the whole API from its own OpenAPI schema, signed in as an admin.

Bounded (a few examples per operation) so it fits the suite; what must hold for every generated request:
no 5xx, and every documented answer matches its schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.tokens import issue_access_token
from app.db import migrate
from app.db.enums import UserRole
from app.db.session import get_engine
from app.main import create_app
from tests.conftest import _clear_caches

APP = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def admin_headers(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A migrated SQLite database with one admin, and the headers of a signed-in request."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fuzz.db")
    _clear_caches()
    migrate.upgrade(f"sqlite:///{tmp_path}/fuzz.db")
    with Session(get_engine()) as session:
        user = service.create_user(session, "fuzz", "fuzz@example.org", "fuzz-password-123456", UserRole.ADMIN)
        session.commit()
        token = issue_access_token(user.id, user.role)
    yield {"Authorization": f"Bearer {token}"}
    _clear_caches()


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error, response_schema_conformance])
