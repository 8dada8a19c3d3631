"""Targets: list, create, look at one (its scans, risk and compliance trend), test it, change it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from pydantic import BaseModel, Field, SecretStr, ValidationError
from sqlalchemy import select

from app.api.deps import SessionDep, client_of
from app.api.pagination import Cursor
from app.api.routes import scans as scans_api
from app.api.routes import targets as targets_api
from app.api.types import PathId
from app.auth import service
from app.auth.rbac import Permission
from app.crud.compliance import target_trend
from app.db.enums import ScanStatus
from app.db.models import Scan
from app.reports.charts import BAND_COLOURS, TrendPoint, trend_chart
from app.reports.view import risk_band
from app.web.deps import web_require
from app.web.routes.common import api_call, first_error
from app.web.templating import page, redirect, when

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
Writer = Annotated[service.Principal, Depends(web_require(Permission.TARGETS_WRITE))]
#: Connector types the dashboard offers (python targets run server code and are CLI-only: docs/targets.md).
FORM_TYPES = ("openai", "anthropic", "ollama", "http")


class TargetForm(BaseModel):
    """The target form's fields; `extra` is optional JSON merged into the settings (budgets, templates...)."""

    name: str = Field(default="", max_length=100)
    type: str = Field(default="openai", max_length=20)
    base_url: str = Field(default="", max_length=20_000)
    model: str = Field(default="", max_length=20_000)
    system_prompt: str = Field(default="", max_length=20_000)
    extra: str = Field(default="", max_length=20_000)
    api_key: str = Field(default="", max_length=4096)
    secret_headers: str = Field(default="", max_length=20_000)
    clear_credentials: bool = False

    def settings(self) -> dict[str, Any]:
        """Connector settings from the fields; ValueError when `extra` is not a JSON object."""
        settings: dict[str, Any] = {"type": self.type}
        for name in ("base_url", "model", "system_prompt"):
            if value := getattr(self, name).strip():
                settings[name] = value
        if self.extra.strip():
            try:
                more = json.loads(self.extra)
            except ValueError as error:
                raise ValueError(f"Other settings must be a JSON object: {error}") from None
            if not isinstance(more, dict):
                raise ValueError('Other settings must be a JSON object, such as {"max_concurrency": 4}.')
            settings.update(more)
        return settings

    def sealed_headers(self) -> dict[str, SecretStr] | None:
        """`secret_headers` as the API takes them; ValueError when it is not a JSON object of strings."""
        if not self.secret_headers.strip():
            return None
        try:
            headers = json.loads(self.secret_headers)
        except ValueError as error:
            raise ValueError(f"Secret headers must be a JSON object: {error}") from None
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError('Secret headers must be a JSON object of strings, such as {"X-Api-Key": "..."}.')
        return {str(name): SecretStr(value) for name, value in headers.items()}

    def shown(self) -> dict[str, str]:
        """What the form shows again after an error: everything typed but the key."""
        return self.model_dump(include={"name", "type", "base_url", "model", "system_prompt", "extra"})


def _form_values(target: targets_api.TargetOut | None = None) -> dict[str, str]:
    """The form's fields, filled from a target (editing) or empty (creating)."""
    if target is None:
        return {"name": "", "type": "openai", "base_url": "", "model": "", "system_prompt": "", "extra": ""}
    known = ("type", "base_url", "model", "system_prompt")
    rest = {key: value for key, value in target.settings.items() if key not in known}
    return {
        "name": target.name,
        "type": target.type,
        "base_url": str(target.settings.get("base_url") or ""),
        "model": str(target.settings.get("model") or ""),
        "system_prompt": str(target.settings.get("system_prompt") or ""),
        "extra": json.dumps(rest, indent=2) if rest else "",
    }


@router.get("/targets", summary="Targets")
def list_targets(request: Request, session: SessionDep, principal: Reader, cursor: Cursor = None) -> Response:
    listing = api_call(targets_api.list_targets, session, principal, limit=50, cursor=cursor)
    rows = session.execute(
        select(Scan.target_id, Scan.risk_score)
        .where(Scan.status == ScanStatus.COMPLETED, Scan.target_id.in_([t.id for t in listing.items]))
        .order_by(Scan.id)
    )
    latest = {target_id: risk for target_id, risk in rows}  # the last row per target wins: its latest scan
    context = {"targets": listing.items, "next_cursor": listing.next_cursor, "latest_risk": latest}
    return page(request, "targets/list.html", context)


@router.get("/targets/new", summary="The new-target form")
def new_target(request: Request, principal: Writer) -> Response:
    return page(request, "targets/form.html", {"values": _form_values(), "types": FORM_TYPES, "error": None})


def _form_error(request: Request, values: dict[str, str], message: str, status: int, target_id: int | None) -> Response:
    context = {"values": values, "types": FORM_TYPES, "error": message, "target_id": target_id}
    return page(request, "targets/form.html", context, status_code=status)


@router.post("/targets", summary="Create a target")
def create_target(
    request: Request, session: SessionDep, principal: Writer, form: Annotated[TargetForm, Form()]
) -> Response:
    def create() -> int:
        key = SecretStr(form.api_key) if form.api_key else None
        body = targets_api.TargetIn(
            name=form.name, settings=form.settings(), api_key=key, secret_headers=form.sealed_headers()
        )
        return targets_api.create_target(body, session, principal, client_of(request)).id

    return _save(request, form, create, None)


def _save(request: Request, form: TargetForm, action: Callable[[], int], target_id: int | None) -> Response:
    """Run the API call behind a form; on success go to the target, else show the form again with the reason."""
    try:
        saved = action()
    except ValidationError as error:
        return _form_error(request, form.shown(), first_error(error), 422, target_id)
    except ValueError as error:
        return _form_error(request, form.shown(), str(error), 422, target_id)
    except HTTPException as error:
        if error.status_code == 404:
            raise
        return _form_error(request, form.shown(), str(error.detail), error.status_code, target_id)
    return redirect(request, f"/targets/{saved}")


@router.get("/targets/{target_id}", summary="One target: settings, scans, risk and compliance trend")
def read_target(target_id: PathId, request: Request, session: SessionDep, principal: Reader) -> Response:
    target = api_call(targets_api.read_target, target_id, session, principal)
    scans = list(session.scalars(select(Scan).where(Scan.target_id == target_id).order_by(Scan.id.desc()).limit(50)))
    completed = [
        scan for scan in reversed(scans) if scan.status == ScanStatus.COMPLETED and scan.risk_score is not None
    ]
    risk = trend_chart(
        [
            TrendPoint(
                f"scan {scan.id} · {when(scan.completed_at)}",
                scan.risk_score or 0.0,
                BAND_COLOURS.get(risk_band(scan.risk_score), "#6b7280"),
            )
            for scan in completed
        ],
        f"Risk score of {target.name}'s completed scans, oldest first",
    )
    context = {
        "target": target,
        "scans": [scans_api.ScanOut.of(scan) for scan in scans],  # what scans/_table.html reads (summary)
        "risk_chart": risk if completed else None,
        "trend": target_trend(session, target_id),
        "credentials_dropped": request.query_params.get("credentials") == "dropped",
    }
    return page(request, "targets/detail.html", context)


@router.post("/targets/{target_id}/test", summary="Check the target (htmx fragment)")
async def test_target(target_id: PathId, request: Request, session: SessionDep, principal: Writer) -> Response:
    try:
        checks = await targets_api.run_target_test(session, target_id, principal, client_of(request))
        error = None
    except HTTPException as failure:
        checks, error = [], str(failure.detail)
    return page(request, "targets/_checks.html", {"checks": checks, "error": error})


@router.get("/targets/{target_id}/edit", summary="The edit-target form")
def edit_target(target_id: PathId, request: Request, session: SessionDep, principal: Writer) -> Response:
    target = api_call(targets_api.read_target, target_id, session, principal)
    context = {"values": _form_values(target), "types": FORM_TYPES, "error": None, "target_id": target_id}
    context["has_credentials"] = target.has_credentials
    return page(request, "targets/form.html", context)


@router.post("/targets/{target_id}", summary="Change a target")
def update_target(
    target_id: PathId, request: Request, session: SessionDep, principal: Writer, form: Annotated[TargetForm, Form()]
) -> Response:
    def update() -> int:
        body = targets_api.TargetPatch(
            name=form.name or None,
            settings=form.settings(),
            api_key=SecretStr(form.api_key) if form.api_key else None,
            secret_headers=form.sealed_headers(),
            clear_credentials=form.clear_credentials,
        )
        changed = targets_api.update_target(target_id, body, session, principal, client_of(request))
        dropped.append(changed.credentials_dropped)
        return changed.id

    dropped: list[bool] = []
    response = _save(request, form, update, target_id)
    if any(dropped):  # the destination changed: say on the target's page that the credentials are gone
        return redirect(request, f"/targets/{target_id}?credentials=dropped")
    return response
