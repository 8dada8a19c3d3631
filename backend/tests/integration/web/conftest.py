"""The dashboard over HTTP on a migrated database (SQLite and PostgreSQL), one user per role, browsers with
their own cookie jars; pages are read with BeautifulSoup, as a browser's DOM would be."""

from __future__ import annotations

__all__ = ["HTML", "PASSWORD", "ROLES", "Browser", "Web", "soup"]

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db.enums import UserRole
from app.web.session import CSRF_COOKIE
from tests.conftest import _clear_caches
from tests.platform import PASSWORD, ROLES, platform_app

HTML = {"accept": "text/html"}


class Browser:
    """One browser: a cookie jar, and form posts that carry the CSRF token as the pages' forms do."""

    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers={**HTML, **kwargs.pop("headers", {})}, **kwargs)

    @property
    def csrf(self) -> str:
        token = self.client.cookies.get(CSRF_COOKIE)
        if token is None:  # a first page sets it, as in a browser
            self.get("/login")
            token = self.client.cookies.get(CSRF_COOKIE)
        assert token
        return token

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False, **kwargs: Any
    ) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})}
        headers = {**HTML, **({"HX-Request": "true"} if htmx else {}), **kwargs.pop("headers", {})}
        return self.client.post(path, data=form, headers=headers, **kwargs)

    def page(self, path: str) -> BeautifulSoup:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return BeautifulSoup(response.text, "html.parser")


@dataclass
class Web:
    app: FastAPI
    url: str

    def browser(self) -> Browser:
        return Browser(self.app)

    def signed_in(self, role: UserRole) -> Browser:
        browser = self.browser()
        answer = browser.post("/login", {"username": role.value, "password": PASSWORD, "next": "/"})
        assert answer.status_code == 303, answer.text
        return browser


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


@pytest.fixture
def web(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    app = platform_app(database_url, monkeypatch)
    with TestClient(app):  # runs the lifespan: the in-process scan worker
        yield Web(app, database_url)
    _clear_caches()
