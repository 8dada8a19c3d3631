"""Compliance: per target, each framework's coverage and statuses across its scans (stale marked), and the trend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import SessionDep
from app.api.routes import compliance as compliance_api
from app.api.routes import overview as overview_api
from app.api.types import QueryId
from app.auth import service
from app.auth.rbac import Permission
from app.compliance.catalog import default_catalog
from app.compliance.persist import ASSESSMENT_STATUS
from app.reports.charts import TrendPoint, trend_chart
from app.web.deps import web_require
from app.web.routes.common import api_call
from app.web.templating import page, when

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]


@router.get("/compliance", summary="Compliance per target and framework")
def compliance(
    request: Request, session: SessionDep, principal: Reader, target_id: QueryId = None, framework: str | None = None
) -> Response:
    posture = overview_api.read_summary(session, principal).posture
    chosen = next((p for p in posture if p.target_id == target_id), posture[0] if posture else None)
    catalog = default_catalog().frameworks
    framework = framework if framework and framework in catalog else "owasp-llm-2025"
    context: dict[str, object] = {
        "posture": posture,
        "chosen": chosen,
        "catalog": catalog,
        "framework": framework,
        "status_words": ASSESSMENT_STATUS,
        "frameworks": [],
        "trend": {},
        "trend_chart": None,
    }
    if chosen is not None:
        # each requirement's standing across the target's scans: not re-tested evidence keeps its status, stale
        frameworks = api_call(compliance_api.target_compliance, chosen.target_id, session, principal)
        trend = api_call(compliance_api.compliance_trend, chosen.target_id, session, principal)
        points = trend.get(framework, [])
        context |= {
            "frameworks": frameworks,
            "selected": next((f for f in frameworks if f.framework == framework), None),
            "trend": trend,
            "trend_chart": trend_chart(
                [TrendPoint(f"scan {p.scan_id} · {when(p.completed_at)}", p.coverage_pct, "#2563eb") for p in points],
                f"Coverage of {framework} (%), scan by scan",
            )
            if points
            else None,
        }
    return page(request, "compliance.html", context)
