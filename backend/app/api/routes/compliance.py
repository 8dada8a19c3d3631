"""Compliance results of scans, and their trend across the scans of a target."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import SessionDep, require
from app.api.routes.scans import get_scan
from app.api.routes.targets import get_target
from app.api.types import PathId, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud.compliance import coverage_pct, target_status, target_trend
from app.db.enums import ComplianceStatus
from app.db.models import ComplianceMapping

router = APIRouter(tags=["compliance"])
Reader = Annotated[service.Principal, Depends(require(Permission.READ))]


class RequirementOut(BaseModel):
    id: str
    title: str
    status: ComplianceStatus | None
    evidence: dict[str, Any] | str | None
    finding_ids: list[int]


class FrameworkOut(BaseModel):
    framework: str
    coverage_pct: float
    counts: dict[str, int]
    requirements: list[RequirementOut]


class StandingOut(RequirementOut):
    scan_id: int = Field(description="The scan this status comes from.")
    assessed_at: UtcDateTime | None = Field(description="When that scan completed.")
    stale: bool = Field(
        description="Not the latest scan's own assessment: it did not assess the requirement, or did not re-test "
        "the finding that failed it; the status is the last one assessed."
    )


class TargetFrameworkOut(BaseModel):
    framework: str
    coverage_pct: float
    counts: dict[str, int]
    stale: int = Field(description="Requirements whose status is carried from an earlier scan.")
    requirements: list[StandingOut]


class TrendPoint(BaseModel):
    scan_id: int
    completed_at: UtcDateTime | None
    coverage_pct: float
    counts: dict[str, int]


def _evidence(text: str | None) -> dict[str, Any] | str | None:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text  # legacy rows hold free text


@router.get("/scans/{scan_id}/compliance", summary="Per framework: coverage and the status of each requirement")
def scan_compliance(scan_id: PathId, session: SessionDep, _: Reader) -> list[FrameworkOut]:
    get_scan(session, scan_id)
    rows = session.scalars(
        select(ComplianceMapping).where(ComplianceMapping.scan_id == scan_id).order_by(ComplianceMapping.id)
    )
    by_framework: dict[str, list[ComplianceMapping]] = defaultdict(list)
    for row in rows:
        by_framework[row.framework].append(row)
    out = []
    for framework, items in by_framework.items():
        counts = Counter(row.compliance_status.value if row.compliance_status else "unknown" for row in items)
        out.append(
            FrameworkOut(
                framework=framework,
                coverage_pct=coverage_pct(counts),
                counts=dict(counts),
                requirements=[
                    RequirementOut(
                        id=row.requirement_id,
                        title=row.requirement_name,
                        status=row.compliance_status,
                        evidence=_evidence(row.evidence),
                        finding_ids=[int(i) for i in row.vulnerability_ids or []],
                    )
                    for row in items
                ],
            )
        )
    return out


@router.get(
    "/targets/{target_id}/compliance",
    summary="Per framework: each requirement's standing across the target's scans, stale ones marked",
)
def target_compliance(target_id: PathId, session: SessionDep, _: Reader) -> list[TargetFrameworkOut]:
    """A requirement the latest completed scan did not assess, or that failed on a finding the latest scan did
    not re-test, keeps its last assessed status with `stale` true and the scan and date it comes from."""
    get_target(session, target_id)
    out = []
    for framework, items in target_status(session, target_id).items():
        counts = Counter(item.status.value if item.status else "unknown" for item in items)
        out.append(
            TargetFrameworkOut(
                framework=framework,
                coverage_pct=coverage_pct(counts),
                counts=dict(counts),
                stale=sum(item.stale for item in items),
                requirements=[
                    StandingOut(
                        id=item.requirement_id,
                        title=item.title,
                        status=item.status,
                        evidence=_evidence(item.evidence),
                        finding_ids=item.finding_ids,
                        scan_id=item.scan_id,
                        assessed_at=item.assessed_at,
                        stale=item.stale,
                    )
                    for item in items
                ],
            )
        )
    return out


@router.get("/targets/{target_id}/compliance/trend", summary="Per framework, coverage and statuses scan by scan")
def compliance_trend(target_id: PathId, session: SessionDep, _: Reader) -> dict[str, list[TrendPoint]]:
    get_target(session, target_id)
    return {
        framework: [TrendPoint(**asdict(point)) for point in points]
        for framework, points in target_trend(session, target_id).items()
    }
