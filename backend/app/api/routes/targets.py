"""Targets: what to scan. Credentials go in once and never come back out."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import Client, ClientDep, SessionDep, audit, require
from app.api.pagination import Cursor, Limit, Page, page_by_id
from app.api.routes.scans import RemovedOut
from app.api.types import PathId, SafeName, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.config import get_settings
from app.core.crypto import SecretDecryptError
from app.crud import housekeeping
from app.crud import targets as crud
from app.db.models import Target
from app.engine.target_doctor import diagnose_target
from app.engine.targets import TargetConfig, TargetConfigError, build_connector

router = APIRouter(prefix="/targets", tags=["targets"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]
Writer = Annotated[service.Principal, Depends(require(Permission.TARGETS_WRITE))]
Name = SafeName


class TargetIn(BaseModel):
    name: Name
    settings: dict[str, Any] = Field(
        description="Connector settings as in a target file (docs/targets.md): type, base_url, model, headers, "
        "budgets... Never the API key."
    )
    api_key: SecretStr | None = Field(default=None, description="Stored sealed; never returned.")
    secret_headers: dict[str, SecretStr] | None = Field(default=None, description="Headers that are secrets.")


class TargetPatch(BaseModel):
    name: Name | None = None
    settings: dict[str, Any] | None = None
    api_key: SecretStr | None = None
    secret_headers: dict[str, SecretStr] | None = None
    clear_credentials: bool = False


class TargetOut(BaseModel):
    id: int
    name: str
    type: str
    settings: dict[str, Any]
    has_credentials: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def of(cls, target: Target) -> TargetOut:
        return cls(
            id=target.id,
            name=target.name,
            type=target.type,
            settings=crud.shown_settings(target),
            has_credentials=crud.has_credentials(target),
            created_at=target.created_at,
            updated_at=target.updated_at,
        )


class CheckOut(BaseModel):
    name: str
    level: str
    message: str
    fix: str | None


def _secret_headers(value: dict[str, SecretStr] | None) -> dict[str, str] | None:
    return {name: secret.get_secret_value() for name, secret in value.items()} if value else None


def get_target(session: SessionDep, target_id: PathId) -> Target:
    target = session.get(Target, target_id)
    if target is None:
        raise HTTPException(404, f"no target {target_id}")
    return target


@router.get("", summary="List targets")
def list_targets(session: SessionDep, _: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[TargetOut]:
    page, next_cursor = page_by_id(session, select(Target), Target.id, limit, cursor)
    return Page(items=[TargetOut.of(t) for t in page], next_cursor=next_cursor)


@router.post("", status_code=201, summary="Create a target")
def create_target(body: TargetIn, session: SessionDep, principal: Writer, client: ClientDep) -> TargetOut:
    try:
        target = crud.create_target(
            session,
            name=body.name,
            settings=body.settings,
            api_key=body.api_key.get_secret_value() if body.api_key else None,
            secret_headers=_secret_headers(body.secret_headers),
            created_by=principal.user.id,
        )
    except crud.TargetNameTakenError as error:
        raise HTTPException(409, str(error)) from None
    except TargetConfigError as error:
        raise HTTPException(422, str(error)) from None
    audit(
        session,
        client,
        "target_create",
        actor=principal.user.id,
        resource_type="target",
        resource_id=target.id,
        details={
            "name": target.name,
            "type": target.type,
            "credentials": crud.has_credentials(target),
            "destination": crud.destination_of(target.type, target.settings),
        },
    )
    session.commit()
    return TargetOut.of(target)


@router.get("/{target_id}", summary="One target")
def read_target(target_id: PathId, session: SessionDep, _: Reader) -> TargetOut:
    return TargetOut.of(get_target(session, target_id))


class TargetChangeOut(TargetOut):
    credentials_dropped: bool = Field(
        default=False,
        description="True when the change of destination (type, scheme, host or port) dropped the stored "
        "credentials: they are bound to the endpoint they were entered for. Send them again with the change.",
    )


@router.patch("/{target_id}", summary="Change a target")
def update_target(
    target_id: PathId, body: TargetPatch, session: SessionDep, principal: Writer, client: ClientDep
) -> TargetChangeOut:
    """Changing where the target points (type, scheme, host or port) drops its stored credentials unless the same
    request sends them again (`credentials_dropped` says so); the audit record names both destinations."""
    target = get_target(session, target_id)
    try:
        change = crud.update_target(
            session,
            target,
            name=body.name,
            settings=body.settings,
            api_key=body.api_key.get_secret_value() if body.api_key else None,
            secret_headers=_secret_headers(body.secret_headers),
            clear_credentials=body.clear_credentials,
        )
    except crud.TargetNameTakenError as error:
        raise HTTPException(409, str(error)) from None
    except (TargetConfigError, SecretDecryptError) as error:
        raise HTTPException(422, str(error)) from None
    changed = sorted(name for name in body.model_fields_set if name not in ("api_key", "secret_headers"))
    audit(
        session,
        client,
        "target_update",
        actor=principal.user.id,
        resource_type="target",
        resource_id=target.id,
        details=change.audit_details(changed),
    )
    session.commit()
    return TargetChangeOut(**TargetOut.of(target).model_dump(), credentials_dropped=change.credentials_dropped)


@router.delete("/{target_id}", summary="Delete a target with all its scans and triage decisions (audited)")
def delete_target(target_id: PathId, session: SessionDep, principal: Writer, client: ClientDep) -> RemovedOut:
    """Deletes the target, its sealed credentials, every scan of it (attempts, findings, compliance mappings)
    and its triage decisions; the audit record (`target_delete`) names it and counts what went. 409 while a
    pending or running scan uses it, or while a setting names it as the default attacker or judge."""
    target = get_target(session, target_id)
    actor = housekeeping.Actor(principal.user.id, client.ip, client.user_agent)
    try:
        removed = housekeeping.delete_target(session, target, actor)
    except housekeeping.DeleteRefusedError as error:  # refused before anything was written
        raise HTTPException(error.status, str(error)) from None
    session.commit()
    return RemovedOut(**removed.as_dict())


#: Target tests in flight per user in this process (`SECUREAI_TARGET_TESTS_PER_USER` caps them).
_tests_in_flight: Counter[int] = Counter()
_tests_lock = threading.Lock()
#: How long one target test may take in all, whatever the target's own timeout and retries.
TEST_DEADLINE_S = 90.0


@contextmanager
def _test_slot(user_id: int) -> Iterator[None]:
    """Hold one of the user's target-test slots; 429 with Retry-After when they are all taken."""
    limit = get_settings().target_tests_per_user
    with _tests_lock:
        if _tests_in_flight[user_id] >= limit:
            raise HTTPException(
                429,
                f"you already have {limit} target test(s) running; wait for one to finish",
                headers={"Retry-After": "10"},
            )
        _tests_in_flight[user_id] += 1
    try:
        yield
    finally:
        with _tests_lock:
            _tests_in_flight[user_id] -= 1
            if not _tests_in_flight[user_id]:
                del _tests_in_flight[user_id]


def _open_for_test(session: Session, target_id: int, principal: service.Principal, client: Client) -> TargetConfig:
    """The target's engine configuration, and the audit record of the secret use (with where it goes)."""
    target = get_target(session, target_id)
    try:
        config = crud.engine_config(target)
    except (TargetConfigError, SecretDecryptError) as error:
        raise HTTPException(422, str(error)) from None
    if config.credential_summary():
        audit(
            session,
            client,
            "secret_use",
            actor=principal.user.id,
            resource_type="target",
            resource_id=target.id,
            details={"purpose": "target test", "sent_to": crud.destination_of(target.type, target.settings)},
        )
    session.commit()
    return config


async def run_target_test(
    session: Session, target_id: int, principal: service.Principal, client: Client
) -> list[CheckOut]:
    """Open the target (in a worker thread: the database is synchronous) and run the engine's target doctor on the
    event loop, so a target that never answers holds no server thread; bounded by TEST_DEADLINE_S."""
    with _test_slot(principal.user.id):
        config = await run_in_threadpool(_open_for_test, session, target_id, principal, client)
        connector = build_connector(config, egress=crud.egress_policy())
        try:
            checks = await asyncio.wait_for(diagnose_target(connector), TEST_DEADLINE_S)
        except TimeoutError:
            return [
                CheckOut(
                    name="reachable",
                    level="error",
                    message=f"no answer within {TEST_DEADLINE_S:g} s",
                    fix="check base_url and that the server runs",
                )
            ]
        finally:
            await connector.aclose()
    return [CheckOut(name=c.name, level=c.level, message=c.message, fix=c.fix) for c in checks]


@router.post("/{target_id}/test", summary="Check the target: reachable, credentials, model, latency")
async def test_target(target_id: PathId, session: SessionDep, principal: Writer, client: ClientDep) -> list[CheckOut]:
    """Runs the engine's target doctor (sends a few tiny requests with the stored credentials). At most
    `SECUREAI_TARGET_TESTS_PER_USER` tests per user at once (429 with Retry-After beyond)."""
    return await run_target_test(session, target_id, principal, client)
