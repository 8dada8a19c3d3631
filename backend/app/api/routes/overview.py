"""The security posture at a glance (the dashboard's overview page reads the same function)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

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
    not_retested: int = Field(description="Open findings of older scans that the latest scan did not re-test.")


class RiskPointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    scan_id: int
    target_id: int | None
    target_name: str | None
    completed_at: UtcDateTime | None
    risk_score: float


class TargetTrendOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    target_id: int
    target_name: str
    points: list[RiskPointOut]


class SummaryOut(BaseModel):
    """`crud.overview.Summary` as JSON (read off its attributes, properties included)."""

    model_config = ConfigDict(from_attributes=True)

    targets: int
    scans_by_status: dict[str, int]
    open_by_severity: dict[str, int]
    posture: list[PostureOut]
    risk_trend: list[RiskPointOut] = Field(description="Latest completed scans of all targets: one line per target.")
    risk_trends: list[TargetTrendOut] = Field(description="Each target's latest completed scans, riskiest first.")
    not_retested: int = Field(description="Open findings (all targets) their target's latest scan did not re-test.")


@router.get("/summary", summary="Posture at a glance: open findings per target, risk trend per target")
def read_summary(session: SessionDep, _: Reader) -> SummaryOut:
    """Open findings are each target's weaknesses found by its completed scans and not shown fixed since (a later
    scan re-tested the probe and stacks and did not find them), less those triaged as false positive, accepted
    risk or fixed; `not_retested` counts those the latest scan did not re-test (docs/scanning.md, "Fixed, or not
    re-tested")."""
    return SummaryOut.model_validate(overview.summary(session))
