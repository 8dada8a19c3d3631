"""Property-based run of the whole API from its own OpenAPI schema, signed in as an admin: no request is a 5xx.

Every operation of the schema (34 at the time of writing) runs against its own copy of a seeded database
(SQLite, or PostgreSQL on request): two admins, a target with sealed credentials, a completed scan with
findings and compliance rows, a triage, an API token, audit records. So the path ids hit real rows, not only
404s. Each operation goes through schemathesis' phases:

- examples (the schema's own examples), and coverage: deterministic boundary values of every parameter and
  body field, valid and invalid (huge and negative ids, empty and over-long strings, missing fields, wrong
  types, NUL bytes...);
- fuzzing: FUZZ_EXAMPLES Hypothesis examples per operation, positive (fits the schema) and negative (does
  not), strings drawn with NUL allowed.

Checks on every response: `not_a_server_error` (no 5xx) and `response_schema_conformance` (a documented
answer matches its schema). Stateful links are not used: FastAPI's schema has none, and the seeded rows give
the operations real ids to work on. Bounded: SECUREAI_FUZZ_EXAMPLES (default 30) fuzzing examples per
operation; a run is about 2,100 requests, 2-3 minutes on 2 shared cores. SECUREAI_FUZZ_DATABASE=postgresql runs
it on PostgreSQL (where NUL bytes bite); SECUREAI_FUZZ_COUNT=FILE appends one line per request sent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.tokens import issue_access_token
from app.db.enums import UserRole
from app.db.models import User
from app.db.session import get_engine
from app.db.tempdb import temporary_database
from app.demo.simulator import running_simulator
from app.main import create_app
from tests.conftest import _PG_REASON, POSTGRES_URL, TEST_SECRET_KEY, _clear_caches, service_missing
from tests.integration.api.conftest import Api
from tests.platform import platform_app

#: Hypothesis examples per operation in the fuzzing phase (the examples and coverage phases come on top).
FUZZ_EXAMPLES = int(os.environ.get("SECUREAI_FUZZ_EXAMPLES", "30"))
APP = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.generation.update(modes=list(schemathesis.GenerationMode), allow_x00=True)
# a PDF report on a busy 2-core machine can take more than the default 10 s; a slow answer is not what this checks
schema.config.update(request_timeout=120)
#: SECUREAI_FUZZ_DATABASE=postgresql runs the same on PostgreSQL (the test server of tests/conftest.py).
ON_POSTGRES = os.environ.get("SECUREAI_FUZZ_DATABASE", "sqlite") == "postgresql"
#: SECUREAI_FUZZ_COUNT=FILE appends one line per request sent (method, path, phase): the size of a run.
COUNT_FILE = os.environ.get("SECUREAI_FUZZ_COUNT")
#: Operations whose path ids must never point at the fuzzing admin (it would end its own session).
SELF_HARM = {("PATCH", "/api/v1/users/{user_id}"), ("POST", "/api/v1/users/{user_id}/reset-password")}


@contextmanager
def _copy_of(seed_url: str) -> Iterator[str]:
    """A new database holding what the seed holds: a file copy (SQLite), or CREATE DATABASE ... TEMPLATE."""
    seed = make_url(seed_url)
    if seed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="secureai-fuzz") as directory:
            shutil.copyfile(str(seed.database), Path(directory) / "fuzz.db")
            yield f"sqlite:///{directory}/fuzz.db"
        return
    name = f"secureai_fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")  # any database but the seed
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seed.database}"'))
        try:
            yield seed.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with real rows, made once through the API (a scan of the simulator), copied per operation."""
    directory = tmp_path_factory.mktemp("fuzz-seed")
    if ON_POSTGRES and _PG_REASON:
        service_missing(_PG_REASON)
    with (
        temporary_database(POSTGRES_URL if ON_POSTGRES else None, prefix="secureai_fuzz_seed") as url,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        monkeypatch.setenv("SECUREAI_SECRET_KEY", TEST_SECRET_KEY)
        monkeypatch.setenv("SECUREAI_DATA_DIR", str(directory / "data"))
        with running_simulator("vulnerable") as (simulator, _), TestClient(platform_app(url, monkeypatch)) as client:
            _seed(Api(client, url), simulator)
        _clear_caches()  # no connection left on the seed: PostgreSQL copies a template nobody is connected to
        yield url


def _seed(api: Api, simulator: str) -> None:
    """A target with sealed credentials, a completed scan with findings, a triage, an API token."""
    admin = api.as_role(UserRole.ADMIN)
    target = api.client.post(
        "/api/v1/targets",
        json={
            "name": "fuzz-target",
            "settings": {"type": "openai", "model": "m", "base_url": simulator},
            "api_key": "sk-fuzz-0123456789",
        },
        headers=admin,
    )
    assert target.status_code == 201, target.text
    started = api.client.post(
        "/api/v1/scans", json={"target_id": target.json()["id"], "probes": "owasp:LLM07"}, headers=admin
    )
    assert started.status_code == 202, started.text
    scan = api.wait_for_scan(started.json()["id"], admin)
    assert scan["status"] == "completed", scan
    findings = api.client.get(f"/api/v1/scans/{scan['id']}/findings", headers=admin).json()["items"]
    assert findings, "the vulnerable simulator gave no finding"
    triaged = api.client.put(
        f"/api/v1/findings/{findings[0]['id']}/triage",
        json={"state": "accepted_risk", "comment": "seed"},
        headers=admin,
    )
    assert triaged.status_code == 200, triaged.text
    token = api.client.post("/api/v1/tokens", json={"name": "seed-token", "role": "viewer"}, headers=admin)
    assert token.status_code == 201, token.text


@pytest.fixture
def admin_headers(seeded_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, str], int, int]]:
    """A copy of the seeded database served with its scan worker; the headers of the signed-in fuzzing admin,
    its id and the id of a spare admin that the operations on users may change."""
    with _copy_of(seeded_database) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        _clear_caches()
        with Session(get_engine()) as session:
            fuzz = service.create_user(session, "fuzz", "fuzz@example.org", "fuzz-password-123456", UserRole.ADMIN)
            spare = session.scalars(select(User).where(User.username == "admin")).one()
            session.commit()
            token = issue_access_token(fuzz.id, fuzz.role)
            ids = (fuzz.id, spare.id)
        with TestClient(APP):  # the lifespan: scans the fuzzer starts are run (and fail fast: no egress allowed)
            yield {"Authorization": f"Bearer {token}"}, *ids
        _clear_caches()


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(
    case: schemathesis.Case[Any], admin_headers: tuple[dict[str, str], int, int]
) -> None:
    headers, own_id, spare_id = admin_headers
    if (case.method.upper(), case.path) in SELF_HARM and str((case.path_parameters or {}).get("user_id")) == str(
        own_id
    ):
        case.path_parameters = {**(case.path_parameters or {}), "user_id": spare_id}
    case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
    if COUNT_FILE:
        with Path(COUNT_FILE).open("a") as out:
            out.write(f"{case.method} {case.path} {case.meta.phase.name if case.meta else '-'}\n")
