"""The findings workspace: weaknesses across scans (filter, search, sort, page, CSV), one finding with its
history, inline and bulk triage, and any two scans compared side by side."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from markupsafe import Markup
from pydantic import ValidationError

from app.api.deps import SessionDep, client_of
from app.api.routes import findings as findings_api
from app.api.routes import targets as targets_api
from app.api.routes import workspace as workspace_api
from app.api.types import MAX_ID, PathId
from app.auth import service
from app.auth.rbac import Permission
from app.crud import findings as crud
from app.db.enums import TriageState
from app.reports.charts import interval_chart
from app.reports.csv_export import neutralise
from app.reports.view import ProbeRow, adaptive_view, displayable, evidence_view, percent
from app.web.deps import web_require
from app.web.routes.common import api_call, target_names
from app.web.templating import _query, page, redirect, when

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
Triager = Annotated[service.Principal, Depends(web_require(Permission.FINDINGS_TRIAGE))]
OWASP_IDS = tuple(f"LLM{n:02d}" for n in range(1, 11))
PAGE_SIZE = 50
#: a filter value as the form sends it (possibly empty: "any")
FormValue = Annotated[str | None, Query(max_length=200)]
#: column headers that sort, each with the direction a first click asks for
SORTABLE = {
    "severity": "severity",
    "asr_low": "-asr_low",
    "scans": "-scans",
    "first_seen": "-first_seen",
    "last_seen": "-last_seen",
    "title": "title",
}
CSV_COLUMNS = (
    "finding_id",
    "target",
    "severity",
    "owasp",
    "probe_id",
    "title",
    "asr",
    "asr_low",
    "asr_high",
    "attempts",
    "scans_found",
    "first_seen",
    "last_seen",
    "last_scan_id",
    "triage",
    "triage_note",
    "asr_per_scan",
)


def urlencode_params(params: dict[str, Any], offset: int) -> str:
    """The query string of a view (to come back to it after a bulk triage)."""
    return _query(params, offset=offset or None)


def _csv(items: list[crud.Weakness], names: dict[int, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    for w in items:
        history = " ".join(f"#{s.scan_id}:{number(s.asr)}" for s in w.history)
        row = [
            str(w.finding_id),
            names.get(w.target_id, str(w.target_id)),
            w.severity.value if w.severity else "info",
            w.owasp or "",
            w.probe_id or "",
            w.title,
            number(w.asr),
            number(w.asr_low),
            number(w.asr_high),
            str(w.attempts or 0),
            str(w.scans),
            when(w.first_seen),
            when(w.last_seen),
            str(w.last_scan_id),
            w.triage_state.value if w.triage_state else "untriaged",
            w.triage_comment or "",
            history,
        ]
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def _sparkline(history: list[crud.Sighting], width: int = 96, height: int = 20) -> Markup:
    """ASR per scan as small bars (SVG attributes only: the CSP allows no inline style)."""
    shown = history[-24:]
    if not shown:
        return Markup()
    step = width / max(len(shown), 1)
    bars = []
    for index, sighting in enumerate(shown):
        value = sighting.asr or 0.0
        tall = max(1.0, round(value * (height - 2), 1))
        bars.append(
            f'<rect x="{index * step:.1f}" y="{height - tall:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{tall:.1f}" fill="#b91c1c"/>'
        )
    label = "; ".join(f"scan {s.scan_id}: {percent(s.asr)}" for s in shown)
    return Markup(  # noqa: S704 - numbers and scan ids only
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="ASR per scan: {label}"><title>ASR per scan: {label}</title>{"".join(bars)}</svg>'
    )


@router.get("/findings", summary="Weaknesses across scans: filter, search, sort, page, triage, export")
def list_findings(
    request: Request,
    session: SessionDep,
    principal: Reader,
    severity: Annotated[list[str] | None, Query()] = None,
    owasp: FormValue = None,
    target_id: FormValue = None,
    scan_id: FormValue = None,
    triage: FormValue = None,
    q: FormValue = None,
    view: FormValue = None,
    sort: Annotated[str, Query(max_length=20)] = "severity",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    export: Annotated[str | None, Query(max_length=10)] = None,
    triaged: Annotated[int | None, Query(ge=0, le=crud.MAX_BULK)] = None,
) -> Response:
    wanted = api_call(workspace_api.finding_filter, severity, owasp, target_id, scan_id, triage, q, view)
    sort = sort if sort in crud.GROUP_SORTS else "severity"
    if export == "csv":
        everything = api_call(workspace_api.weakness_page, session, wanted, sort, None, 0)  # type: ignore[arg-type]
        names = target_names(session, [w.target_id for w in everything.items])
        return Response(
            _csv(everything.items, names),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="secureai-findings.csv"'},
        )
    found = api_call(workspace_api.weakness_page, session, wanted, sort, PAGE_SIZE, offset)
    params: dict[str, Any] = {
        "view": wanted.view,
        "q": wanted.q,
        "severity": [s.value for s in wanted.severity],
        "owasp": wanted.owasp,
        "target_id": wanted.target_id,
        "scan_id": wanted.scan_id,
        "triage": wanted.triage,
        "sort": sort,
    }
    headers = {}
    for column, first in SORTABLE.items():
        current = sort.lstrip("-") == column
        flipped = (sort[1:] if sort.startswith("-") else f"-{sort}") if current else first
        headers[column] = {
            "sort": flipped,
            "current": current,
            "descending": sort.startswith("-") == (column != "severity"),
        }
    context = {
        "weaknesses": found.items,
        "total": found.total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "params": params,
        "owasp_ids": OWASP_IDS,
        "triage_filters": crud.TRIAGE_FILTERS,
        "sorts": crud.GROUP_SORTS,
        "columns": headers,
        "names": target_names(session, [w.target_id for w in found.items]),
        "sparks": {w.finding_id: _sparkline(w.history) for w in found.items},
        "targets": targets_api.list_targets(session, principal, limit=200, cursor=None).items,
        "back": urlencode_params(params, offset),
        "triaged": triaged,
    }
    return page(request, "findings/list.html", context)


@router.post("/findings/triage", summary="Triage the chosen findings at once")
def bulk_triage(
    request: Request,
    session: SessionDep,
    principal: Triager,
    state: Annotated[str, Form(max_length=20)],
    finding_id: Annotated[list[str], Form(max_length=crud.MAX_BULK + 1)] = [],  # noqa: B006 - FastAPI copies it
    comment: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The API's bulk triage (each weakness audited once), then back to the same view of the workspace."""
    ids = [int(value) for value in finding_id if value.isdigit() and 1 <= int(value) <= MAX_ID]
    if len(ids) != len(finding_id) or not ids:
        raise HTTPException(422, "choose at least one finding (tick its box)")
    try:
        body = workspace_api.BulkTriageIn(finding_ids=ids, state=TriageState(state), comment=comment)
    except (ValueError, ValidationError):
        raise HTTPException(422, f"unknown triage state {state!r}, or too many findings") from None
    done = api_call(workspace_api.bulk_triage, session, principal, client_of(request), body)
    query = back.lstrip("?")
    separator = "&" if query else ""
    return redirect(request, f"/findings?{query}{separator}triaged={done.weaknesses}")


@router.get("/findings/{finding_id}", summary="One finding: evidence, triage with a note, its history across scans")
def read_finding(finding_id: PathId, request: Request, session: SessionDep, principal: Reader) -> Response:
    finding = api_call(workspace_api.finding_detail, session, finding_id)
    history = finding.history
    chart = None
    if history:
        rows = [
            ProbeRow(
                probe_id=f"scan #{s.scan_id}",
                title="",
                owasp="",
                severity=finding.severity.value if finding.severity else "info",
                attempts=s.attempts or 0,
                counts={},
                asr=s.asr,
                low=s.asr_ci95[0] or 0.0,
                high=s.asr_ci95[1] or 0.0,
            )
            for s in history
        ]
        chart = interval_chart(rows, "Attack success rate per scan (95% interval)", label_width=110)
    evidence = (
        [(evidence_view(item), adaptive_view(item)) for item in finding.evidence]
        if isinstance(finding.evidence, list)
        else []
    )
    context = {
        "f": finding,
        "target_name": target_names(session, [finding.target_id]).get(finding.target_id or 0),
        "history": history,
        "chart": chart,
        "evidence": evidence,
        "legacy_text": displayable(finding.evidence) if isinstance(finding.evidence, str) else None,
    }
    return page(request, "findings/detail.html", context)


@router.post("/findings/{finding_id}/triage", summary="Triage a finding (htmx fragment)")
def triage(
    finding_id: PathId,
    request: Request,
    session: SessionDep,
    principal: Triager,
    state: Annotated[str, Form(max_length=20)],
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """The API's triage (audited, carried by fingerprint to later scans of the target)."""
    error = None
    try:
        body = findings_api.TriageIn(state=TriageState(state), comment=comment.strip() or None)
        finding = findings_api.triage_finding(finding_id, body, session, principal, client_of(request))
    except (ValueError, ValidationError):
        error, finding = f"unknown triage state {state!r}", None
    except HTTPException as failure:
        if failure.status_code == 404:
            raise
        error, finding = str(failure.detail), None
    context: dict[str, Any]
    if finding is None:
        context = {"finding_id": finding_id, "triage": None, "error": error}
        return page(request, "findings/_triage.html", context, status_code=422 if error else 200)
    context = {"finding_id": finding_id, "triage": finding.triage, "error": None}
    return page(request, "findings/_triage.html", context)


@router.get("/compare", summary="Any two scans side by side: per category, strategy and probe")
def compare(
    request: Request,
    session: SessionDep,
    principal: Reader,
    base: FormValue = None,
    head: FormValue = None,
) -> Response:
    base_id = api_call(workspace_api.optional_id, base, "base")
    head_id = api_call(workspace_api.optional_id, head, "head")
    found = None
    if base_id is not None and head_id is not None:
        found = api_call(workspace_api.comparison, session, base_id, head_id)
    scans = crud.comparable_scans(session)
    context = {
        "base_id": base_id,
        "head_id": head_id,
        "cmp": found,
        "scans": scans,
        "names": target_names(session, [target for _, _, target in scans]),
        "missing": base_id is None or head_id is None,
    }
    return page(request, "findings/compare.html", context)
