"""Compliance results of scans, and their trend across the scans of a target."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select

from app.api.deps import SessionDep, require
from app.api.routes.scans import get_scan
from app.api.routes.targets import get_target
from app.api.types import PathId, UtcDateTime
from app.auth import service
from app.auth.rbac import Permission
from app.crud.compliance import coverage_pct, target_trend
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


@router.get("/targets/{target_id}/compliance/trend", summary="Per framework, coverage and statuses scan by scan")
def compliance_trend(target_id: PathId, session: SessionDep, _: Reader) -> dict[str, list[TrendPoint]]:
    get_target(session, target_id)
    return {
        framework: [TrendPoint(**asdict(point)) for point in points]
        for framework, points in target_trend(session, target_id).items()
    }
