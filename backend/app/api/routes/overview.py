"""The security posture at a glance (the dashboard's overview page reads the same function)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from app.api.deps import SessionDep, require
from app.api.types import UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud import overview

router = APIRouter(tags=["overview"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]


class PostureOut(BaseModel):
    target_id: int
    target_name: str
    scan_id: int
    completed_at: UtcDateTime | None
    risk_score: float | None
    open_findings: int
    open_by_severity: dict[str, int]


class RiskPointOut(BaseModel):
    scan_id: int
    target_id: int | None
    target_name: str | None
    completed_at: UtcDateTime | None
    risk_score: float


class SummaryOut(BaseModel):
    targets: int
    scans_by_status: dict[str, int]
    open_by_severity: dict[str, int]
    posture: list[PostureOut]
    risk_trend: list[RiskPointOut]

    @classmethod
    def of(cls, found: overview.Summary) -> SummaryOut:
        return cls(
            targets=found.targets,
            scans_by_status=found.scans_by_status,
            open_by_severity=found.open_by_severity,
            posture=[
                PostureOut(
                    target_id=p.target_id,
                    target_name=p.target_name,
                    scan_id=p.scan_id,
                    completed_at=p.completed_at,
                    risk_score=p.risk_score,
                    open_findings=p.open_findings,
                    open_by_severity=p.open_by_severity,
                )
                for p in found.posture
            ],
            risk_trend=[
                RiskPointOut(
                    scan_id=r.scan_id,
                    target_id=r.target_id,
                    target_name=r.target_name,
                    completed_at=r.completed_at,
                    risk_score=r.risk_score,
                )
                for r in found.risk_trend
            ],
        )


@router.get("/summary", summary="Posture at a glance: open findings per target's latest scan, risk trend")
def read_summary(session: SessionDep, _: Reader) -> SummaryOut:
    """Open findings are those of each target's latest completed scan not triaged as false positive, accepted
    risk or fixed."""
    return SummaryOut.of(overview.summary(session))
