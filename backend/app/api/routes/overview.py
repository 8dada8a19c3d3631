"""The security posture at a glance (the dashboard's overview page reads the same function)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from app.api.deps import SessionDep, require
from app.api.types import UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud import overview

router = APIRouter(tags=["overview"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]


class PostureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    target_id: int
    target_name: str
    scan_id: int
    completed_at: UtcDateTime | None
    risk_score: float | None
    open_findings: int
    open_by_severity: dict[str, int]


class RiskPointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    scan_id: int
    target_id: int | None
    target_name: str | None
    completed_at: UtcDateTime | None
    risk_score: float


class SummaryOut(BaseModel):
    """`crud.overview.Summary` as JSON (read off its attributes, properties included)."""

    model_config = ConfigDict(from_attributes=True)

    targets: int
    scans_by_status: dict[str, int]
    open_by_severity: dict[str, int]
    posture: list[PostureOut]
    risk_trend: list[RiskPointOut]


@router.get("/summary", summary="Posture at a glance: open findings per target's latest scan, risk trend")
def read_summary(session: SessionDep, _: Reader) -> SummaryOut:
    """Open findings are those of each target's latest completed scan not triaged as false positive, accepted
    risk or fixed."""
    return SummaryOut.model_validate(overview.summary(session))
