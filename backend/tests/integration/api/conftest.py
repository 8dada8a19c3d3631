"""An API client on a migrated database (SQLite and PostgreSQL), with one user per role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import service
from app.db import migrate
from app.db.enums import UserRole
from app.db.session import get_engine

PASSWORD = "correct-horse-battery-staple-42"
ROLES = (UserRole.ADMIN, UserRole.ANALYST, UserRole.AUDITOR, UserRole.VIEWER)


@dataclass
class Api:
    """The test client and helpers to act as a user of some role."""

    client: TestClient
    url: str

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def as_role(self, role: UserRole) -> dict[str, str]:
        return self.login(role.value)

    def wait_for_scan(self, scan_id: int, headers: dict[str, str], timeout: float = 120) -> dict[str, Any]:
        """Poll the scan until it ends; its last state."""
        deadline = time.monotonic() + timeout
        while (scan := self.client.get(f"/api/v1/scans/{scan_id}", headers=headers).json())["status"] in (
            "pending",
            "running",
        ):
            assert time.monotonic() < deadline, scan
            time.sleep(0.2)
        return scan


@pytest.fixture
def api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    from tests.conftest import _clear_caches

    _clear_caches()
    migrate.upgrade(database_url)
    with Session(get_engine()) as session:
        for role in ROLES:
            service.create_user(session, role.value, f"{role.value}@example.org", PASSWORD, role)
        session.commit()
    from app.main import create_app

    with TestClient(create_app()) as client:
        yield Api(client, database_url)
    _clear_caches()
