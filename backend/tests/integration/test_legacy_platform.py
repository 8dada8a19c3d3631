"""An upgraded legacy database under the platform: the server leaves legacy scans as they were, and every
legacy scan, finding and compliance row shows in the dashboard to a legacy user signing in with their
old password."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.db import migrate
from tests.conftest import LEGACY_DIR, _clear_caches

MANIFEST = json.loads((LEGACY_DIR / "secureai-legacy.manifest.json").read_text())


def _scans(url: str) -> list[tuple[int, str, str | None]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, error_message FROM scans ORDER BY id")).all()
    engine.dispose()
    return [(row[0], row[1], row[2]) for row in rows]


def test_the_server_leaves_legacy_scans_alone_and_the_dashboard_shows_them(
    legacy_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{legacy_copy}"
    monkeypatch.setenv("DATABASE_URL", url)
    _clear_caches()
    migrate.upgrade(url)
    before = _scans(url)
    assert Counter(status for _, status, _ in before)["pending"] == 5  # left unfinished by the old deployment
    from app.main import create_app

    application = create_app()
    with TestClient(application, follow_redirects=False) as client:
        # the lifespan has run the worker's start, which looked for unfinished scans: it resumed none of them
        assert application.state.resumed_scans == []
        html = {"accept": "text/html"}
        login = BeautifulSoup(client.get("/login", headers=html).text, "html.parser")
        token = login.find("input", {"name": "csrf_token"})["value"]
        password = MANIFEST["passwords"]["analyst"]  # a legacy bcrypt hash, still valid
        signed = client.post(
            "/login", data={"username": "analyst", "password": password, "csrf_token": token}, headers=html
        )
        assert signed.status_code == 303
        shown = 0
        for scan_id, _, _ in before:
            page = client.get(f"/scans/{scan_id}", headers=html)
            assert page.status_code == 200, (scan_id, page.text[:300])
            shown += page.text.count('class="finding"')
        # legacy findings carry no fingerprint: their scans' pages list them (the findings workspace groups
        # fingerprinted weaknesses only, a known gap of issue 15)
        assert shown > 0
        assert client.get("/findings?sort=severity", headers=html).status_code == 200
        assert client.get("/", headers=html).status_code == 200
        assert client.get("/compliance", headers=html).status_code == 200
    assert _scans(url) == before  # nothing was resumed, failed or rewritten
    _clear_caches()
