"""The overview: open findings, each target's posture, the risk trend and the latest scans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import SessionDep
from app.api.routes import overview as overview_api
from app.api.routes import scans as scans_api
from app.auth import service
from app.auth.rbac import Permission
from app.reports.charts import BAND_COLOURS, SEVERITY_COLOURS, Bar, TrendPoint, bar_chart, trend_chart
from app.reports.view import risk_band
from app.web.deps import web_require
from app.web.routes.common import target_names
from app.web.templating import page, when

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
#: Targets whose risk trend the overview draws (riskiest first); the others' are on their target pages.
TREND_TARGETS = 6


@router.get("/", summary="Overview")
def overview(request: Request, session: SessionDep, principal: Reader) -> Response:
    summary = overview_api.read_summary(session, principal)
    recent = scans_api.list_scans(session, principal, limit=10, cursor=None).items
    open_chart = bar_chart(
        [Bar(severity, count, SEVERITY_COLOURS[severity]) for severity, count in summary.open_by_severity.items()],
        "Open findings by severity",
        width=420,
        label_width=80,
    )
    # one chart per target (riskiest first): a line through two targets' scores would read as a fix
    trends = [
        (
            line,
            trend_chart(
                [
                    TrendPoint(
                        f"scan {point.scan_id} · {when(point.completed_at)}",
                        point.risk_score,
                        BAND_COLOURS.get(risk_band(point.risk_score), "#6b7280"),
                    )
                    for point in line.points
                ],
                f"Risk score of {line.target_name}'s latest completed scans, oldest first",
                height=140,
            ),
        )
        for line in summary.risk_trends[:TREND_TARGETS]
    ]
    context = {
        "summary": summary,
        "recent": recent,
        "names": target_names(session, [scan.target_id for scan in recent]),
        "open_chart": open_chart,
        "trends": trends,
        "more_trends": max(len(summary.risk_trends) - TREND_TARGETS, 0),
        "open_total": sum(summary.open_by_severity.values()),
    }
    return page(request, "overview.html", context)
