"""Shared set-up of the API and dashboard tests: a migrated database with one user per role, and the
permission a route asks for (read off its dependencies, for the route x role matrices)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.rbac import Permission
from app.db import migrate
from app.db.enums import UserRole
from app.db.session import get_engine

PASSWORD = "correct-horse-battery-staple-42"
ROLES = (UserRole.ADMIN, UserRole.ANALYST, UserRole.AUDITOR, UserRole.VIEWER)


#: What the platform tests let targets reach: their simulators and listeners run on 127.0.0.1 (any port).
TEST_TARGET_ALLOW = "127.0.0.1/32"


def platform_app(database_url: str, monkeypatch: pytest.MonkeyPatch, target_allow: str = TEST_TARGET_ALLOW) -> FastAPI:
    """The application on a freshly migrated `database_url` holding the users admin, analyst, auditor, viewer
    (each named after its role, with PASSWORD); targets may reach what `target_allow` allows
    (SECUREAI_TARGET_ALLOW)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECUREAI_TARGET_ALLOW", target_allow)
    from tests.conftest import _clear_caches

    _clear_caches()
    migrate.upgrade(database_url)
    with Session(get_engine()) as session:
        for role in ROLES:
            service.create_user(session, role.value, f"{role.value}@example.org", PASSWORD, role)
        session.commit()
    from app.main import create_app

    return create_app()


def permission_of(route: APIRoute) -> Permission | None:
    """The permission a route's guard (`require` or `web_require`) checks, or None when it has no guard."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        found = getattr(dependency.call, "permission", None)
        if found is not None:
            return Permission(found)
        stack.extend(dependency.dependencies)
    return None
