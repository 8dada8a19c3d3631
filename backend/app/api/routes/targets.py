"""Targets: what to scan. Credentials go in once and never come back out."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy import select

from app.api.deps import ClientDep, SessionDep, audit, require
from app.api.pagination import Cursor, Limit, Page, page_by_id
from app.api.types import PathId, SafeName, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.core.crypto import SecretDecryptError
from app.crud import targets as crud
from app.db.models import Target
from app.engine.target_doctor import diagnose_target
from app.engine.targets import TargetConfigError, build_connector

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
            settings=target.settings,
            has_credentials=bool(target.credentials),
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
        details={"name": target.name, "type": target.type, "credentials": bool(target.credentials)},
    )
    session.commit()
    return TargetOut.of(target)


@router.get("/{target_id}", summary="One target")
def read_target(target_id: PathId, session: SessionDep, _: Reader) -> TargetOut:
    return TargetOut.of(get_target(session, target_id))


@router.patch("/{target_id}", summary="Change a target")
def update_target(
    target_id: PathId, body: TargetPatch, session: SessionDep, principal: Writer, client: ClientDep
) -> TargetOut:
    target = get_target(session, target_id)
    try:
        crud.update_target(
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
    except TargetConfigError as error:
        raise HTTPException(422, str(error)) from None
    changed = sorted(name for name in body.model_fields_set if name not in ("api_key", "secret_headers"))
    audit(
        session,
        client,
        "target_update",
        actor=principal.user.id,
        resource_type="target",
        resource_id=target.id,
        details={"changed": changed, "credentials_replaced": bool(body.api_key or body.secret_headers)},
    )
    session.commit()
    return TargetOut.of(target)


@router.post("/{target_id}/test", summary="Check the target: reachable, credentials, model, latency")
def test_target(target_id: PathId, session: SessionDep, principal: Writer, client: ClientDep) -> list[CheckOut]:
    """Runs the engine's target doctor (sends a few tiny requests with the stored credentials)."""
    target = get_target(session, target_id)
    try:
        config = crud.engine_config(target)
    except (TargetConfigError, SecretDecryptError) as error:
        raise HTTPException(422, str(error)) from None
    audit(
        session,
        client,
        "secret_use",
        actor=principal.user.id,
        resource_type="target",
        resource_id=target.id,
        details={"purpose": "target test"},
    )
    session.commit()

    async def run() -> list[CheckOut]:
        connector = build_connector(config, egress=crud.egress_policy())
        try:
            checks = await diagnose_target(connector)
        finally:
            await connector.aclose()
        return [CheckOut(name=c.name, level=c.level, message=c.message, fix=c.fix) for c in checks]

    return asyncio.run(run())
