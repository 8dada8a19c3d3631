"""An API client on a migrated database (SQLite and PostgreSQL), with one user per role."""

from __future__ import annotations

__all__ = ["PASSWORD", "ROLES", "Api"]

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.enums import UserRole
from tests.conftest import _clear_caches
from tests.platform import PASSWORD, ROLES, platform_app


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

    def simulator_target(self, url: str, headers: dict[str, str], name: str = "sim") -> dict[str, Any]:
        """A stored OpenAI-compatible target on a simulator at `url`, created through the API."""
        created = self.client.post(
            "/api/v1/targets",
            json={"name": name, "settings": {"type": "openai", "model": "sim", "base_url": url}},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        target: dict[str, Any] = created.json()
        return target

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
    with TestClient(platform_app(database_url, monkeypatch)) as client:
        yield Api(client, database_url)
    _clear_caches()
