"""Scans: list, start one (with a preview of its size), follow it live, cancel it, read its results, export."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import select

from app.api.deps import SessionDep, client_of
from app.api.pagination import Cursor
from app.api.routes import compliance as compliance_api
from app.api.routes import findings as findings_api
from app.api.routes import scans as scans_api
from app.api.routes import targets as targets_api
from app.api.types import MAX_ID, PathId, QueryId
from app.auth import service
from app.auth.rbac import Permission
from app.compliance.catalog import default_catalog
from app.compliance.persist import ASSESSMENT_STATUS
from app.crud import findings as findings_crud
from app.crud import packs as packs_crud
from app.crud import scans as scans_crud
from app.db.enums import ScanStatus, TriageState
from app.db.models import Scan
from app.engine.attacks import ADAPTIVE, needing_attacker, parse_attack_options
from app.engine.attacks.session import ROLES, parse_role_caps
from app.engine.plan import DEFAULT_PROFILE, PROFILES, Profile
from app.engine.probes.registry import ProbePackError, load_probes
from app.engine.scoring import SEVERITY_ORDER
from app.engine.strategies import available_strategies, parse_stacks
from app.jobs.scan_job import ScanOptions, plan_scan
from app.reports.charts import (
    SEVERITY_COLOURS,
    STATUS_COLOURS,
    Bar,
    bar_chart,
    compliance_chart,
    interval_chart,
    risk_gauge,
)
from app.reports.html import REPORT_CSP
from app.reports.partial import scan_partial
from app.reports.render import FORMATS
from app.reports.view import (
    ComplianceView,
    ProbeRow,
    adaptive_view,
    displayable,
    evidence_view,
    over_refusal_view,
    percent,
    risk_band,
)
from app.web.deps import web_require
from app.web.routes.common import api_call, target_names
from app.web.templating import page, redirect

router = APIRouter()
Reader = Annotated[service.Principal, Depends(web_require(Permission.READ))]
Writer = Annotated[service.Principal, Depends(web_require(Permission.SCANS_WRITE))]
Exporter = Annotated[service.Principal, Depends(web_require(Permission.REPORTS_EXPORT))]
ReportFormat = Literal["json", "sarif", "junit", "csv", "md", "html", "pdf"]
RUNNING = ("pending", "running")
OUTCOME_COLOURS = {
    "vulnerable": "#dc2626",
    "safe": "#16a34a",
    "refused": "#2563eb",
    "error": "#6b7280",
    "blocked": "#7c3aed",
    "unscored": "#d1d5db",
}
SEVERITIES = tuple(reversed(SEVERITY_ORDER))  # critical first
#: findings a scan page lists (the findings page pages through all of them)
FINDINGS_SHOWN = 200


@router.get("/scans", summary="Scans, newest first")
def list_scans(request: Request, session: SessionDep, principal: Reader, cursor: Cursor = None) -> Response:
    listing = api_call(scans_api.list_scans, session, principal, limit=50, cursor=cursor)
    context = {
        "scans": listing.items,
        "next_cursor": listing.next_cursor,
        "names": target_names(session, [scan.target_id for scan in listing.items]),
    }
    return page(request, "scans/list.html", context)


def _categories() -> list[dict[str, Any]]:
    """OWASP categories with their titles and how many probes each has, for the selection checkboxes."""
    counts: Counter[str] = Counter(str(probe.owasp) for probe in load_probes())
    owasp = default_catalog().frameworks["owasp-llm-2025"]
    return [{"id": r.id, "title": r.title, "probes": counts.get(r.id, 0)} for r in owasp.requirements]


def _role_defaults(session: SessionDep) -> tuple[dict[str, int | None], list[str]]:
    """The targets the settings name as default attacker and judge (None when unset), and what is wrong with a
    setting that names no stored target (the form then preselects none and says why)."""
    defaults: dict[str, int | None] = {}
    problems: list[str] = []
    for role in ("attacker", "judge"):
        try:
            target = scans_crud.default_role_target(session, role)
        except scans_crud.ScanRequestError as error:
            target = None
            problems.append(str(error))
        defaults[role] = target.id if target else None
    return defaults, problems


def _form_context(session: SessionDep, principal: service.Principal, values: dict[str, Any]) -> dict[str, Any]:
    targets = targets_api.list_targets(session, principal, limit=200, cursor=None).items
    return {
        "targets": targets,
        "categories": _categories(),
        "strategies": available_strategies(),
        "adaptive": {name: strategy.needs_attacker for name, strategy in ADAPTIVE.items()},
        "attack_params": [
            f"{name}.{param}={spec.default} ({spec.low}-{spec.high})"
            for name, strategy in ADAPTIVE.items()
            for param, spec in strategy.params.items()
        ],
        "profiles": [
            (name, f"{name} ({'every prompt' if limit is None else f'up to {limit} prompts per probe'})")
            for name, limit in PROFILES.items()
        ],
        "values": values,
        "default_problems": _role_defaults(session)[1],
        "error": None,
    }


def _selection(owasp: list[str], selection: str) -> str:
    chosen = [f"owasp:{category}" for category in owasp]
    if selection.strip():
        chosen.append(selection.strip())
    return ",".join(chosen)


def _stacks(strategies: list[str], stacks: str) -> str:
    chosen = list(strategies)
    if stacks.strip():
        chosen.append(stacks.strip())
    return ",".join(chosen) or "none"


@router.get("/scans/new", summary="The new-scan form")
def new_scan(request: Request, session: SessionDep, principal: Writer, target_id: QueryId = None) -> Response:
    values: dict[str, Any] = {"target_id": target_id, "owasp": ["LLM01", "LLM07"], "strategies": ["none"]}
    values |= {"repeat": 1, "profile": DEFAULT_PROFILE}
    values |= {"selection": "", "stacks": "", "name": "", "concurrency": ""}
    defaults, _ = _role_defaults(session)  # preselected; "none" unless the settings name a stored target
    values |= {"attacker_target_id": defaults["attacker"] or "", "judge_target_id": defaults["judge"] or ""}
    values |= {"attack_options": "", "max_requests": "", "max_tokens": ""}
    return page(request, "scans/new.html", _form_context(session, principal, values))


_SEPARATORS = re.compile(r"[\s,;]+")


def _words(line: str) -> list[str]:
    return [word for word in _SEPARATORS.split(line.strip()) if word]


def _needing_attacker(stacks: str) -> list[str]:
    """Adaptive strategies of `stacks` that need an attacker model (none when the stacks do not parse)."""
    try:
        return needing_attacker(parse_stacks(stacks))
    except ValueError:
        return []


def _role_choice(value: str | None, label: str) -> int | Literal["default"] | None:
    """A role select's value: left out of the form -> the settings' default; "" or "none" -> none; else an id."""
    if value is None:
        return "default"
    value = value.strip()
    if value in ("", "none"):
        return None
    if value.isdigit() and 1 <= int(value) <= MAX_ID:
        return int(value)
    raise ValueError(f"{label}: choose a stored target or none")


def _caps(line: str, label: str) -> dict[str, int]:
    """`target=2000, attacker=500` -> {"target": 2000, "attacker": 500}."""
    try:
        return parse_role_caps(_words(line))
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None


Repeat = Annotated[int, Form(ge=1, le=100)]
ProfileChoice = Annotated[Profile, Form()]
Choices = Annotated[list[str], Form(max_length=50)]
Line = Annotated[str, Form(max_length=500)]


@router.post("/scans/preview", summary="How many attempts a selection plans (htmx fragment)")
def preview_scan(
    request: Request,
    session: SessionDep,
    principal: Writer,
    owasp: Choices = [],  # noqa: B006 - FastAPI copies form defaults
    selection: Line = "",
    strategies: Choices = [],  # noqa: B006
    stacks: Line = "",
    repeat: Repeat = 1,
    profile: ProfileChoice = DEFAULT_PROFILE,
    attacker_target_id: Annotated[str | None, Form(max_length=12)] = None,
) -> Response:
    probes, chosen = _selection(owasp, selection), _stacks(strategies, stacks)
    try:
        packs = [stored.pack for stored in packs_crud.active_packs(session)]  # `pack:NAME` of a user pack too
        plan = plan_scan(ScanOptions(probes, chosen, repeat, profile=profile), packs)
        context: dict[str, Any] = {"attempts": len(plan.attempts), "probes": len(plan.probes), "error": None}
    except (ProbePackError, ValueError, KeyError) as error:
        context = {"attempts": 0, "probes": 0, "error": str(error).strip("'\"") if probes else "Choose some probes."}
    context["limit"] = scans_api.MAX_ATTEMPTS
    needing = _needing_attacker(chosen)
    context["needs_attacker"] = ", ".join(needing) if needing and attacker_target_id in ("", "none") else None
    return page(request, "scans/_preview.html", context)


RoleChoice = Annotated[str | None, Form(max_length=12)]


@router.post("/scans", summary="Start a scan")
def start_scan(
    request: Request,
    session: SessionDep,
    principal: Writer,
    target_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    owasp: Choices = [],  # noqa: B006
    selection: Line = "",
    strategies: Choices = [],  # noqa: B006
    stacks: Line = "",
    repeat: Repeat = 1,
    profile: ProfileChoice = DEFAULT_PROFILE,
    name: Annotated[str, Form(max_length=200)] = "",
    concurrency: Annotated[str, Form(max_length=4)] = "",
    attacker_target_id: RoleChoice = None,
    judge_target_id: RoleChoice = None,
    attack_options: Line = "",
    max_requests: Line = "",
    max_tokens: Line = "",
) -> Response:
    values: dict[str, Any] = {"target_id": target_id, "owasp": owasp, "strategies": strategies, "repeat": repeat}
    values |= {"profile": profile, "selection": selection, "stacks": stacks, "name": name, "concurrency": concurrency}
    values |= {"attacker_target_id": _selected(attacker_target_id), "judge_target_id": _selected(judge_target_id)}
    values |= {"attack_options": attack_options, "max_requests": max_requests, "max_tokens": max_tokens}

    def form_error(message: str, status: int = 422) -> Response:
        context = _form_context(session, principal, values) | {"error": message}
        return page(request, "scans/new.html", context, status_code=status)

    probes, wanted = _selection(owasp, selection), concurrency.strip()
    if not probes:
        return form_error("Choose at least one OWASP category or give a probe selection.")
    if wanted and not (wanted.isdigit() and 1 <= int(wanted) <= 256):
        return form_error("Concurrency must be a whole number from 1 to 256.")
    try:
        roles = {
            "attacker_target_id": _role_choice(attacker_target_id, "Attacker model"),
            "judge_target_id": _role_choice(judge_target_id, "Judge model"),
        }
        options = parse_attack_options(_words(attack_options))
        caps = {"max_requests": _caps(max_requests, "Request caps"), "max_tokens": _caps(max_tokens, "Token caps")}
    except ValueError as error:
        return form_error(str(error))
    try:
        body = scans_api.ScanIn(
            target_id=target_id,
            name=name.strip() or None,
            probes=probes,
            strategies=_stacks(strategies, stacks),
            repeat=repeat,
            profile=profile,
            concurrency=int(wanted) if wanted else None,
            attack_options=options,
            **caps,
            # a role left out of the form gets the settings' default, as in the API
            **{field: choice for field, choice in roles.items() if choice != "default"},
        )
        started = scans_api.start_scan(body, request, session, principal, client_of(request))
    except ValidationError as error:
        return form_error(error.errors()[0]["msg"])
    except HTTPException as error:
        return form_error(str(error.detail), error.status_code)
    return redirect(request, f"/scans/{started.id}")


def _selected(value: str | None) -> int | str:
    """A role select's value as the form shows it again after an error."""
    value = (value or "").strip()
    return int(value) if value.isdigit() else ""


def _compliance_views(frameworks: list[compliance_api.FrameworkOut]) -> list[ComplianceView]:
    catalog = default_catalog().frameworks
    views = []
    for framework in frameworks:
        counts: Counter[str] = Counter()
        for status, count in framework.counts.items():
            counts[ASSESSMENT_STATUS.get(status, "not_tested")] += count
        known = catalog.get(framework.framework)
        views.append(
            ComplianceView(
                framework_id=framework.framework,
                name=known.name if known else framework.framework,
                version=known.version if known else "",
                source=known.source.url if known else "",
                coverage_pct=framework.coverage_pct,
                counts={status: counts.get(status, 0) for status in STATUS_COLOURS},
                requirements=[],
            )
        )
    return views


def _previous_scan(session: SessionDep, scan: scans_api.ScanOut) -> int | None:
    if scan.target_id is None:
        return None
    return session.scalar(
        select(Scan.id)
        .where(Scan.target_id == scan.target_id, Scan.status == ScanStatus.COMPLETED, Scan.id < scan.id)
        .order_by(Scan.id.desc())
        .limit(1)
    )


def _set_aside(finding: findings_api.TriagedFinding) -> bool:
    triage = finding.triage
    if triage is None or triage.state not in (TriageState.FALSE_POSITIVE, TriageState.ACCEPTED_RISK):
        return False
    expires = triage.expires_at
    if triage.state is TriageState.FALSE_POSITIVE or expires is None:
        return True
    return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) > datetime.now(UTC)


def _severity_rank(finding: findings_api.TriagedFinding) -> tuple[int, float, int]:
    severity = finding.severity.value if finding.severity else "info"
    return (SEVERITIES.index(severity), -(finding.asr or 0.0), finding.id)


@dataclass(frozen=True)
class StrategyRow:
    """One strategy stack over every probe of a scan (the result's `strategies` array)."""

    strategy: str
    attempts: int
    vulnerable: int
    scored: int
    asr: str
    low: str
    high: str
    median_queries: str


def strategy_rows(summary: dict[str, Any]) -> list[StrategyRow]:
    rows = []
    for item in summary.get("strategies") or []:
        counts = item.get("counts") or {}
        low, high = (item.get("asr_ci95") or [None, None])[:2]
        median = item.get("median_queries_to_success")
        rows.append(
            StrategyRow(
                strategy=displayable(item.get("strategy")),
                attempts=int(item.get("attempts") or 0),
                vulnerable=int(counts.get("vulnerable", 0)),
                scored=sum(int(counts.get(name, 0)) for name in ("vulnerable", "safe", "refused")),
                asr=percent(item.get("asr")),
                low=percent(low),
                high=percent(high),
                median_queries="—" if median is None else f"{median:g}",
            )
        )
    return rows


def _figure(entry: Any, rate: bool = True) -> str:
    """A calibration figure ({"value", "ci95"}) as "91% (88%–94%)", or "0.82 (0.75–0.88)" for kappa."""
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), (int, float)):
        return "n/a"
    low, high = [*list(entry.get("ci95") or []), None, None][:2]

    def shown(value: Any) -> str:
        if not isinstance(value, (int, float)):
            return "?"
        return percent(value) if rate else f"{value:.2f}"

    return f"{shown(entry['value'])} ({shown(low)}–{shown(high)})"


def _roles_context(session: SessionDep, scan: scans_api.ScanOut) -> dict[str, Any] | None:
    """The attacker and judge of a scan (names from its options, usage from its result), or None if neither."""
    options, summary = scan.options or {}, scan.summary or {}
    ids: dict[str, int | None] = {}
    for role in ("attacker", "judge"):
        chosen = options.get(f"{role}_target_id")
        ids[role] = chosen if isinstance(chosen, int) else None
    recorded = summary.get("roles") if isinstance(summary.get("roles"), dict) else None
    if not any(ids.values()) and not recorded:
        return None
    names = target_names(session, ids.values())
    usage = (recorded or {}).get("usage") or {}
    calibration = summary.get("judge_calibration")
    return {
        "targets": {role: (chosen, names.get(chosen) if chosen else None) for role, chosen in ids.items()},
        "usage": [
            (role, usage[role], (recorded or {}).get("max_requests", {}).get(role))
            for role in ROLES
            if isinstance(usage.get(role), dict)
        ],
        "calibration": {
            "at": displayable(calibration.get("calibrated_at")),
            "graded": calibration.get("graded"),
            "accuracy": _figure(calibration.get("accuracy")),
            "false_positive_rate": _figure(calibration.get("false_positive_rate")),
            "kappa": _figure(calibration.get("kappa"), rate=False),
        }
        if isinstance(calibration, dict)
        else None,
        "adaptive": json.dumps(summary["adaptive"], sort_keys=True) if summary.get("adaptive") else None,
    }


def _success_charts(session: SessionDep, scan_id: int) -> dict[str, Any]:
    """The scan's ASR per OWASP category and per strategy stack, each with its 95 % interval (server-side SVG)."""
    found = findings_crud.breakdown(session, scan_id)
    charts: dict[str, Any] = {}
    for kind, rates, title in (
        ("categories", found.categories, "Attack success rate per OWASP category (95% interval)"),
        ("strategies", found.strategies, "Attack success rate per strategy (95% interval)"),
    ):
        rows = [
            ProbeRow(key, "", "", "high", rate.attempts, {}, rate.asr, *(bound or 0.0 for bound in rate.interval))
            for key, rate in rates.items()
            if rate.scored
        ]
        if rows:
            charts[kind] = interval_chart(rows, title, label_width=170)
    return charts


@router.get("/scans/{scan_id}", summary="One scan: progress, results, findings with evidence, compliance")
def read_scan(scan_id: PathId, request: Request, session: SessionDep, principal: Reader) -> Response:
    scan = api_call(scans_api.read_scan, scan_id, session, principal)
    listing = findings_api.list_findings(
        session,
        principal,
        severity=None,
        owasp=None,
        scan_id=scan_id,
        target_id=None,
        # platform findings all have an ASR: a big scan shows its 200 most reliable attacks; legacy findings
        # have none, and an ASR order would leave them out
        sort="-asr" if scan.attempts_planned is not None else "-id",
        limit=FINDINGS_SHOWN,
        cursor=None,
    )
    findings = sorted(listing.items, key=_severity_rank)
    summary = scan.summary or {}
    outcomes = summary.get("outcomes") or {}
    by_severity = Counter(f.severity.value if f.severity else "info" for f in findings)
    frameworks = compliance_api.scan_compliance(scan_id, session, principal)
    previous = _previous_scan(session, scan)
    diff = findings_api.diff_scans(previous, scan_id, session, principal, unchanged=False) if previous else None
    context = {
        "scan": scan,
        "target_name": target_names(session, [scan.target_id]).get(scan.target_id or 0),
        "running": scan.status.value in RUNNING,
        # cancelled, failed, stopped early or inconclusive: the banner above everything else (issue 15)
        "partial": scan_partial(scan.status.value, scan.summary, scan.attempts_planned),
        # false positives and unexpired accepted risks: the reports leave them out of the summary and the score
        "set_aside": sum(_set_aside(finding) for finding in findings),
        "findings": findings,
        "more_findings": listing.next_cursor is not None,
        "findings_shown": FINDINGS_SHOWN,
        "evidence": {
            f.id: [(evidence_view(item), adaptive_view(item)) for item in f.evidence]
            for f in findings
            if isinstance(f.evidence, list)
        },
        "strategy_rows": strategy_rows(summary),
        # benign prompts the target refused: a usability measure, shown apart from findings and the risk score
        "over_refusal": over_refusal_view(summary),
        "roles": _roles_context(session, scan),
        "frameworks": frameworks,
        "status_words": ASSESSMENT_STATUS,
        "diff": diff,
        "previous": previous,
        "formats": list(FORMATS),
        "pace": _pace(session, scan_id) if scan.status.value in RUNNING else None,
        "success_charts": _success_charts(session, scan_id) if scan.status.value not in RUNNING else {},
        "charts": {
            "gauge": risk_gauge(scan.risk_score, risk_band(scan.risk_score)),
            "outcomes": bar_chart(
                [Bar(name, int(outcomes.get(name, 0)), colour) for name, colour in OUTCOME_COLOURS.items()],
                "Attempts by outcome",
                width=420,
                label_width=90,
            ),
            "severity": bar_chart(
                [Bar(name, by_severity.get(name, 0), SEVERITY_COLOURS[name]) for name in SEVERITIES],
                "Findings by severity",
                width=420,
                label_width=90,
            ),
            "compliance": compliance_chart(_compliance_views(frameworks), "Requirements per framework by status")
            if frameworks
            else None,
        },
    }
    return page(request, "scans/detail.html", context)


def _pace(session: SessionDep, scan_id: int) -> findings_crud.Pace | None:
    """Errors, retries, 429s, request rate, time to go and the last answer of a scan (None if it is gone)."""
    stored = session.get(Scan, scan_id)
    return findings_crud.pace(session, stored) if stored is not None else None


@router.get("/scans/{scan_id}/live", summary="Progress of a running scan (htmx fragment, polled)")
def live(scan_id: PathId, request: Request, session: SessionDep, principal: Reader) -> Response:
    scan = api_call(scans_api.read_scan, scan_id, session, principal)
    context = {"scan": scan, "pace": _pace(session, scan_id)}
    if scan.status.value not in RUNNING and request.headers.get("HX-Request") == "true":
        # finished: reload the whole page, which now shows the results
        return page(request, "scans/_live.html", context | {"running": False}, headers={"HX-Refresh": "true"})
    return page(request, "scans/_live.html", context | {"running": scan.status.value in RUNNING})


@router.post("/scans/{scan_id}/cancel", summary="Ask a running scan to stop")
def cancel(scan_id: PathId, request: Request, session: SessionDep, principal: Writer) -> Response:
    api_call(scans_api.cancel_scan, scan_id, session, principal, client_of(request))
    return redirect(request, f"/scans/{scan_id}")


@router.get("/scans/{scan_id}/report", summary="Download (or view) the scan's report in one format")
def report(
    scan_id: PathId,
    request: Request,
    session: SessionDep,
    principal: Exporter,
    report_format: Annotated[ReportFormat, Query(alias="format")] = "html",
    redact: Annotated[Literal["pii"] | None, Query()] = None,
    evidence: Annotated[Literal["condensed", "all"], Query()] = "condensed",
    inline: bool = False,
) -> Response:
    """The API's export (audited, credentials masked); `inline` shows an HTML report in the browser."""
    response = api_call(
        scans_api.scan_report, scan_id, session, principal, client_of(request), report_format, redact, evidence
    )
    if inline and report_format == "html":
        response.headers["Content-Disposition"] = "inline"
        response.headers["Content-Security-Policy"] = f"{REPORT_CSP}; frame-ancestors 'none'"
    return response
