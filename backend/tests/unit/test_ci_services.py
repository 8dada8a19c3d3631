"""A test whose real service is missing skips locally with the reason, and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.conftest import service_missing


def test_a_missing_service_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis not reachable"):
        service_missing("Redis not reachable at redis://127.0.0.1:1")


def test_a_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL down \(CI=true: every service"):
        service_missing("PostgreSQL down")
