"""The HTML and PDF reports' model: everything the templates show, computed once from a scan-result document.

The templates only lay out; every count, order, band and compliance status is decided here, so the HTML and
the PDF (rendered from the same templates) can never disagree, and the numbers are those of the JSON, SARIF and
JUnit formats because they are read from the same document.

Compliance is assessed from the document's probes with the same function that writes `compliance_mappings`
for platform scans. A probe the registry does not know (an imported garak probe, say) maps by its OWASP
category alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.compliance.catalog import Catalog, default_catalog
from app.compliance.mapping import MeasuredProbe, RequirementStatus, assess_measured, coverage_gaps
from app.engine.detectors.measured import measured_figures
from app.engine.probes.registry import load_probes
from app.engine.probes.schema import Probe
from app.engine.report_json import over_refusal_block
from app.engine.scoring import SEVERITY_ORDER
from app.reports.partial import Partial, partial_of
from app.reports.triage import finding_triage, is_set_aside, triage_label

__all__ = [
    "OUTCOMES",
    "ComplianceView",
    "EvidenceView",
    "FindingView",
    "OverRefusalView",
    "ProbeRow",
    "ReportView",
    "adaptive_view",
    "build_view",
    "displayable",
    "evidence_view",
    "over_refusal_view",
]

OUTCOMES = ("vulnerable", "safe", "refused", "error", "blocked", "unscored")
SEVERITIES = tuple(reversed(SEVERITY_ORDER))  # critical first
OWASP_FRAMEWORK = "owasp-llm-2025"
# C0/C1 controls other than tab and newline, lone surrogates and bidirectional overrides: invisible or invalid
# in HTML, and text written by the target must not reorder what a reader sees.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# (upper bound, band); the score is 0-100, see docs/scan-json.md
RISK_BANDS = ((25.0, "low"), (50.0, "medium"), (75.0, "high"), (100.0, "critical"))


def _engine_label(document: dict[str, Any]) -> str:
    """`secureai`, or the imported engine with its version and the probes SecureAI's table could not map."""
    engine = str(document.get("engine") or "secureai")
    if engine == "secureai":
        return "SecureAI"
    label = f"{engine} {document.get('engine_version') or ''}".strip() + " (imported)"
    unmapped = list(document.get("unmapped_probes") or [])
    if unmapped:
        label += f"; unmapped probes (no OWASP category, severity info): {', '.join(map(str, unmapped))}"
    return displayable(label)


def displayable(value: Any) -> str:
    """Text safe to show: invisible and direction-changing characters become U+FFFD; line breaks stay."""
    return _INVISIBLE.sub("\ufffd", "" if value is None else str(value))


def percent(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def risk_band(score: float | None) -> str:
    if score is None:
        return "not scored"
    return next(band for bound, band in RISK_BANDS if score <= bound)


@dataclass(frozen=True)
class ProbeRow:
    """One probe's figures: outcome counts and the attack success rate with its 95 % Wilson interval."""

    probe_id: str
    title: str
    owasp: str
    severity: str
    attempts: int
    counts: dict[str, int]
    asr: float | None
    low: float
    high: float

    @property
    def scored(self) -> int:
        return self.counts["vulnerable"] + self.counts["safe"] + self.counts["refused"]

    @property
    def asr_text(self) -> str:
        return f"{percent(self.asr)} ({percent(self.low)}–{percent(self.high)})"

    @classmethod
    def of(cls, entry: dict[str, Any]) -> ProbeRow:
        raw = entry.get("counts") or {}
        low, high = [*(entry.get("asr_ci95") or []), 0.0, 1.0][:2]
        asr = entry.get("asr")
        return cls(
            probe_id=displayable(entry.get("probe_id")),
            title=displayable(entry.get("title") or entry.get("probe_id")),
            owasp=displayable(entry.get("owasp") or "—"),
            severity=str(entry.get("severity") or "info") if entry.get("severity") in SEVERITIES else "info",
            attempts=int(entry.get("attempts") or 0),
            counts={outcome: int(raw.get(outcome, 0)) for outcome in OUTCOMES},
            asr=None if asr is None else float(asr),
            low=float(low),
            high=float(high),
        )


@dataclass(frozen=True)
class OverRefusalProbe:
    """One over-refusal probe: how many of its benign prompts the target refused."""

    probe_id: str
    title: str
    attempts: int
    scored: int
    refused: int
    rate_text: str


@dataclass(frozen=True)
class RefusedPrompt:
    """One benign prompt the target refused, as excerpts (credentials masked in the document)."""

    probe_id: str
    attempt: str
    strategies: str
    prompt: str
    response: str
    explanation: str


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _fraction(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _rate_text(rate: float | None, interval: Any) -> str:
    low, high = [*(interval if isinstance(interval, list) else []), 0.0, 1.0][:2]
    return "n/a" if rate is None else f"{percent(rate)} ({percent(_fraction(low))}–{percent(_fraction(high))})"


@dataclass(frozen=True)
class OverRefusalView:
    """The result's `usability.over_refusal` (docs/scan-json.md): a usability measure, not a vulnerability."""

    attempts: int
    scored: int
    refused: int
    rate: float | None
    rate_text: str
    threshold: float | None
    exceeds: bool | None
    probes: list[OverRefusalProbe]
    prompts: list[RefusedPrompt]

    @property
    def sentence(self) -> str:
        """What a reader must know, in one or two sentences (the reports' summaries say it the same way)."""
        if not self.attempts:
            return (
                "Over-refusal was not measured: the scan sent no benign prompt (select pack:over_refusal), so a "
                "target that refuses everything would look the same as a safe one."
            )
        if self.rate is None:
            return f"Over-refusal was not measured: none of the {self.attempts} benign prompts got a scored answer."
        text = (
            f"Over-refusal (a usability finding, not part of the risk score): the target refused {self.refused} of "
            f"{self.scored} benign prompts that only sound dangerous, {self.rate_text}."
        )
        if self.threshold is not None:
            allowed = percent(self.threshold, 1)
            text += f" That is above the {allowed} allowed." if self.exceeds else f" The limit was {allowed}."
        return text


def over_refusal_view(document: Any) -> OverRefusalView | None:
    """The over-refusal block of a result document or a platform scan's summary, made displayable; None when it
    has none (written before over-refusal was measured)."""
    block = over_refusal_block(document)
    if block is None:
        return None
    rate = _fraction(block.get("rate"))
    exceeds = block.get("exceeds_threshold")
    return OverRefusalView(
        attempts=_number(block.get("attempts")),
        scored=_number(block.get("scored")),
        refused=_number(block.get("refused")),
        rate=rate,
        rate_text=_rate_text(rate, block.get("rate_ci95")),
        threshold=_fraction(block.get("threshold")),
        exceeds=exceeds if isinstance(exceeds, bool) else None,
        probes=[
            OverRefusalProbe(
                displayable(entry.get("probe_id")),
                displayable(entry.get("title") or entry.get("probe_id")),
                _number(entry.get("attempts")),
                _number(entry.get("scored")),
                _number(entry.get("refused")),
                _rate_text(_fraction(entry.get("rate")), entry.get("rate_ci95")),
            )
            for entry in block.get("by_probe") or []
            if isinstance(entry, dict)
        ],
        prompts=[
            RefusedPrompt(
                displayable(item.get("probe_id")),
                displayable(item.get("attempt")),
                " + ".join(displayable(s) for s in item.get("strategies") or ["none"]),
                displayable(item.get("prompt")),
                displayable(item.get("response")),
                displayable(item.get("explanation")),
            )
            for item in block.get("refused_prompts") or []
            if isinstance(item, dict)
        ],
    )


@dataclass(frozen=True)
class DetectorHit:
    detector: str
    matched: str
    explanation: str
    #: "right in 98 % of its vulnerable verdicts (95 % CI 91-100 %) on 512 labelled cases", or "" if unmeasured
    trust: str = ""


def detector_trust(name: str) -> str:
    """How often this detector's `vulnerable` verdicts were right on the labelled corpus, in words."""
    figures = measured_figures()
    entry = (figures.get("by_detector") or {}).get(name) or {}
    precision, interval = entry.get("precision"), entry.get("precision_ci95") or [0.0, 1.0]
    if precision is None:
        return ""
    return (
        f"right in {precision:.0%} of its vulnerable verdicts (95 % CI {interval[0]:.0%}-{interval[1]:.0%}) "
        f"on {figures.get('corpus_cases', 0)} labelled cases"
    )


def judge_trust(calibration: dict[str, Any] | None) -> str:
    """The judge's last calibration, in words ("" when it was never calibrated)."""
    if not isinstance(calibration, dict):
        return ""
    accuracy, kappa = calibration.get("accuracy") or {}, calibration.get("kappa") or {}
    if accuracy.get("value") is None:
        return ""
    low, high = accuracy.get("ci95") or [0.0, 1.0]
    cases = (calibration.get("set") or {}).get("cases") or calibration.get("graded") or 0
    when = str(calibration.get("calibrated_at") or "")[:10]
    return (
        f"a judge that agreed with people on {accuracy['value']:.0%} (95 % CI {low:.0%}-{high:.0%}) of {cases} "
        f"labelled cases, kappa {kappa.get('value', 0):.2f}" + (f", calibrated {when}" if when else "")
    )


def trust_table() -> list[tuple[str, str, str, int]]:
    """(detector, precision with interval, recall with interval, vulnerable verdicts) for the methodology."""
    rows = []
    for name, entry in sorted((measured_figures().get("by_detector") or {}).items()):
        if entry.get("precision") is None:
            continue
        p_low, p_high = entry.get("precision_ci95") or [0.0, 1.0]
        r_low, r_high = entry.get("recall_ci95") or [0.0, 1.0]
        recall = entry.get("recall")
        rows.append(
            (
                name,
                f"{entry['precision']:.0%} ({p_low:.0%}-{p_high:.0%})",
                "—" if recall is None else f"{recall:.0%} ({r_low:.0%}-{r_high:.0%})",
                int(entry.get("vulnerable_judged") or 0),
            )
        )
    return rows


@dataclass(frozen=True)
class AdaptiveView:
    """How an adaptive attempt got its answer: what it took, the judge's reason and the conversation."""

    strategy: str
    success: bool
    target_queries: int
    iterations: int
    node: str
    judge_reason: str
    notes: str
    #: (role, text) turn by turn, as sent and received (excerpts, credentials masked)
    conversation: list[tuple[str, str]]

    @property
    def summary(self) -> str:
        """One line: "pair: succeeded after 6 target queries, 2 iteration(s), winning node s1/i2; judge: ..."."""
        outcome = "succeeded" if self.success else "did not succeed"
        parts = [f"{self.strategy}: {outcome} after {self.target_queries} target queries"]
        if self.iterations:
            parts.append(f"{self.iterations} iteration(s)")
        if self.node:
            parts.append(f"winning node {self.node}")
        text = ", ".join(parts)
        return f"{text}; judge: {self.judge_reason}" if self.judge_reason else text


def adaptive_view(item: Any) -> AdaptiveView | None:
    """The `adaptive` part of one evidence item (docs/scan-json.md), made displayable; None for a static one."""
    adaptive = item.get("adaptive") if isinstance(item, dict) else None
    if not isinstance(adaptive, dict):
        return None

    return AdaptiveView(
        strategy=displayable(adaptive.get("strategy")),
        success=adaptive.get("success") is True,
        target_queries=_number(adaptive.get("target_queries")),
        iterations=_number(adaptive.get("iterations")),
        node=displayable(adaptive.get("node")),
        judge_reason=displayable(adaptive.get("judge_reason")),
        notes=displayable(adaptive.get("notes")),
        conversation=[
            (displayable(turn.get("role")), displayable(turn.get("content")))
            for turn in adaptive.get("conversation") or []
            if isinstance(turn, dict)
        ],
    )


@dataclass(frozen=True)
class EvidenceView:
    """One vulnerable attempt, as excerpts (the document already cut them to 600 characters)."""

    attempt: str
    strategies: str
    prompt: str
    response: str
    hits: list[DetectorHit]
    #: For an adaptive attempt: what it took and its turns.
    adaptive: AdaptiveView | None = None


@dataclass(frozen=True)
class FindingView:
    row: ProbeRow
    strategy_stacks: list[str]
    evidence: list[EvidenceView]
    remediation: str
    #: The triage column: "untriaged", "false positive", "accepted risk until 2027-03-31"...
    triage: str = "untriaged"
    #: The reviewer's reason (false positive, accepted risk), "" when none.
    triage_reason: str = ""


@dataclass(frozen=True)
class RequirementView:
    requirement_id: str
    title: str
    status: str
    probes: list[str]
    no_probe_can_evidence: bool


@dataclass(frozen=True)
class ComplianceView:
    """One framework in this scan: per-status counts, coverage and every requirement (gaps included)."""

    framework_id: str
    name: str
    version: str
    source: str
    coverage_pct: float
    counts: dict[str, int]
    requirements: list[RequirementView]


@dataclass(frozen=True)
class CategoryCount:
    owasp: str
    title: str
    findings: int
    probes: int


@dataclass
class ReportView:
    """What the report shows, in the order it shows it."""

    target: str
    generated_at: str
    scan: list[tuple[str, str]]
    configuration: list[tuple[str, str]]
    risk_score: float | None
    band: str
    inconclusive: bool
    attempts: int
    outcomes: dict[str, int]
    error_share: float
    findings: list[FindingView]
    probes: list[ProbeRow]
    severity_counts: list[tuple[str, int]]
    categories: list[CategoryCount]
    compliance: list[ComplianceView]
    headline: list[str] = field(default_factory=list)
    #: Per strategy stack: (stack, vulnerable/scored, ASR with interval, median queries to success).
    strategies: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: The attacker and judge models, the judge's calibration in words, and probes that needed a judge.
    roles: list[tuple[str, str]] = field(default_factory=list)
    needs_judge: list[str] = field(default_factory=list)
    #: Benign prompts refused (usability; None for a document written before it was measured).
    over_refusal: OverRefusalView | None = None
    #: Attempts that ended in error, attack and benign.
    errors: int = 0
    #: Findings triaged as false positive or unexpired accepted risk: out of `findings`, the severity counts,
    #: the executive summary and the risk score, listed in a section of their own.
    set_aside: list[FindingView] = field(default_factory=list)
    #: Why the scan is partial and how much of it was done (None for a complete scan): the first-page banner.
    partial: Partial | None = None
    #: The risk score before triage, when triage changed it.
    risk_before_triage: float | None = None

    @property
    def scored_probes(self) -> list[ProbeRow]:
        return [row for row in self.probes if row.asr is not None]


def _timestamp(value: Any) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return displayable(value)


def evidence_view(item: dict[str, Any], judge: str = "") -> EvidenceView:
    """One evidence item of a finding (as the scan-result document and the API hold it), made displayable;
    `judge` is the judge's calibration in words, shown beside its verdicts."""
    return EvidenceView(
        attempt=displayable(item.get("attempt")),
        strategies=" + ".join(displayable(s) for s in item.get("strategies") or ["none"]),
        prompt=displayable(item.get("prompt")),
        response=displayable(item.get("response")),
        hits=[
            DetectorHit(
                displayable(h.get("detector")),
                displayable(h.get("matched")),
                displayable(h.get("explanation")),
                judge if h.get("detector") == "judge" else detector_trust(str(h.get("detector"))),
            )
            for h in item.get("detectors") or []
        ],
        adaptive=adaptive_view(item),
    )


def _ended_label(document: dict[str, Any]) -> str:
    """The label of the end time: "Completed" only for a scan that completed, "Ended" otherwise."""
    return "Completed" if document.get("status") in (None, "completed") else "Ended"


def _severity_key(row: ProbeRow) -> tuple[int, float, str]:
    return (SEVERITIES.index(row.severity), -(row.asr or 0.0), row.probe_id)


def _entry_key(item: tuple[ProbeRow, dict[str, Any]]) -> tuple[int, float, str]:
    return _severity_key(item[0])


def _compliance(
    probes: list[ProbeRow], registry: dict[str, Probe], catalog: Catalog, false_positives: frozenset[str] = frozenset()
) -> list[ComplianceView]:
    """Each framework's requirements; a probe whose finding is triaged as false positive counts as not
    succeeding (its verdicts were wrong), an accepted risk still fails its requirements."""
    measured = [
        MeasuredProbe(
            row.probe_id, row.owasp, 0 if row.probe_id in false_positives else row.counts["vulnerable"], row.scored
        )
        for row in probes
    ]
    assessments = assess_measured(measured, catalog)
    unreachable = {fid: set(ids) for fid, ids in coverage_gaps(registry.values(), catalog).items()}
    views = []
    for framework_id, item in assessments.items():
        framework = item.framework
        requirements = [
            RequirementView(
                r.requirement_id,
                r.title,
                r.status.value,
                r.failed_probes or r.passed_probes or r.unscored_probes,
                r.requirement_id in unreachable[framework_id],
            )
            for r in item.results
        ]
        views.append(
            ComplianceView(
                framework_id,
                framework.name,
                framework.version,
                framework.source.url,
                item.coverage_pct,
                {status.value: item.count(status) for status in RequirementStatus},
                requirements,
            )
        )
    return views


def _categories(probes: list[ProbeRow], catalog: Catalog) -> list[CategoryCount]:
    titles = {r.id: r.title for r in catalog.frameworks[OWASP_FRAMEWORK].requirements}
    found: dict[str, list[int]] = {}
    for row in probes:
        tally = found.setdefault(row.owasp, [0, 0])
        tally[0] += row.counts["vulnerable"] > 0
        tally[1] += 1
    return [CategoryCount(owasp, titles.get(owasp, ""), *found[owasp]) for owasp in sorted(found)]


def _headline(view: ReportView) -> list[str]:
    """The executive summary's sentences, from the numbers alone."""
    scored = len(view.scored_probes)
    probes = "attack probes" if view.over_refusal and view.over_refusal.attempts else "probes"
    succeeded = len(view.findings) + len(view.set_aside)
    lines = []
    if view.partial:
        lines.append(view.partial.banner)
    lines.append(
        f"{len(view.probes)} {probes} sent {view.attempts} attempts; {scored} probes had scored attempts and "
        f"{succeeded} of them succeeded at least once."
    )
    if view.set_aside:
        lines.append(
            f"{len(view.set_aside)} of those findings are set aside by triage (false positive or accepted risk, "
            "listed in their own section) and left out of the summary and the risk score"
            + (f" ({view.risk_before_triage:g} before triage)." if view.risk_before_triage is not None else ".")
        )
    worst = [(severity, count) for severity, count in view.severity_counts if count]
    if worst:
        lines.append("Findings by severity: " + ", ".join(f"{count} {severity}" for severity, count in worst) + ".")
        top = view.findings[0].row
        lines.append(f"Most severe: {top.title} ({top.probe_id}, {top.severity}), attack success rate {top.asr_text}.")
    else:
        lines.append("No finding is left open by triage." if view.set_aside else "No attack succeeded.")
    if view.inconclusive:
        lines.append(
            f"The scan is inconclusive: {percent(view.error_share, 1)} of attempts ended in error, more than the scan "
            "allows, so the risk score and every passed requirement rest on too little evidence."
        )
    else:
        errors = view.errors
        if errors:
            lines.append(f"{errors} attempts ended in error and were left out of the rates.")
    if view.over_refusal:
        lines.append(view.over_refusal.sentence)
    failed = sum(c.counts["failed"] for c in view.compliance)
    gaps = sum(c.counts["not_tested"] for c in view.compliance)
    lines.append(
        f"Across {len(view.compliance)} frameworks, {failed} requirements failed and {gaps} were not tested by this "
        "scan (gaps)."
    )
    return lines


def _configuration(document: dict[str, Any]) -> list[tuple[str, str]]:
    run = document.get("run") or {}
    pairs = [
        ("Probe selection", document.get("selection")),
        ("Strategies", document.get("strategies")),
        ("Repeat", document.get("repeat")),
        ("Seed", document.get("seed")),
        ("Plan fingerprint", document.get("plan")),
        ("Attempt log", document.get("results_file")),
        ("Attempts sent in the last run", run.get("sent")),
        ("Attempts resumed from the log", run.get("already_done")),
        ("Run time (s)", run.get("seconds")),
        ("HTTP 429 answers (retried)", document.get("rate_limited_responses")),
    ]
    return [(label, displayable(value)) for label, value in pairs if value not in (None, "")]


def build_view(
    document: dict[str, Any], catalog: Catalog | None = None, *, evidence_limit: int | None = None
) -> ReportView:
    """The report model of a (redacted) scan-result document; evidence only for the `evidence_limit` most
    severe findings when given (the PDF shows no more, and a large scan has thousands)."""
    evidence_limit = len(document.get("findings") or []) if evidence_limit is None else evidence_limit
    catalog = catalog or default_catalog()
    registry = {probe.id: probe for probe in load_probes()}
    summary = document.get("summary") or {}
    judge = judge_trust(document.get("judge_calibration"))
    raw_outcomes = summary.get("outcomes") or {}
    probes = sorted((ProbeRow.of(entry) for entry in document.get("probes") or []), key=_severity_key)
    entries = sorted(((ProbeRow.of(entry), entry) for entry in document.get("findings") or []), key=_entry_key)
    every = [
        FindingView(
            row,
            [displayable(s) for s in entry.get("strategy_stacks") or []],
            [evidence_view(item, judge) for item in entry.get("evidence") or []] if index < evidence_limit else [],
            displayable(registry[row.probe_id].remediation if row.probe_id in registry else ""),
            triage_label(entry),
            displayable((finding_triage(entry) or {}).get("reason") or ""),
        )
        for index, (row, entry) in enumerate(entries)
    ]
    aside = {str(entry.get("probe_id")) for _, entry in entries if is_set_aside(entry)}
    findings = [finding for finding in every if finding.row.probe_id not in aside]
    false_positives = frozenset(
        str(entry.get("probe_id"))
        for _, entry in entries
        if is_set_aside(entry) and (finding_triage(entry) or {}).get("state") == "false_positive"
    )
    risk = summary.get("risk_score")
    scan = [
        ("Scan", f"#{document['scan_id']} {displayable(document.get('scan_name') or '')}".strip())
        if document.get("scan_id") is not None
        else ("Scan", "command-line scan"),
        ("Status", displayable(document.get("status") or "completed")),
        ("Engine", _engine_label(document)),
        ("Started", _timestamp(document.get("started_at"))),
        (_ended_label(document), _timestamp(document.get("completed_at"))),
        ("Report generated", _timestamp(document.get("generated_at"))),
    ]
    view = ReportView(
        target=displayable(document.get("target") or "unknown target"),
        generated_at=_timestamp(document.get("generated_at")),
        scan=scan,
        configuration=_configuration(document),
        risk_score=None if risk is None else float(risk),
        band=risk_band(None if risk is None else float(risk)),
        inconclusive=bool(summary.get("inconclusive")),
        attempts=int(summary.get("attempts") or 0),
        outcomes={outcome: int(raw_outcomes.get(outcome, 0)) for outcome in OUTCOMES},
        error_share=float(summary.get("error_share") or 0.0),
        findings=findings,
        probes=probes,
        severity_counts=[(s, sum(f.row.severity == s for f in findings)) for s in SEVERITIES],
        categories=_categories(probes, catalog),
        compliance=_compliance(probes, registry, catalog, false_positives),
    )
    view.set_aside = [finding for finding in every if finding.row.probe_id in aside]
    view.partial = partial_of(document)
    before = summary.get("risk_score_before_triage")
    if aside and isinstance(before, int | float) and before != view.risk_score:
        view.risk_before_triage = float(before)
    view.strategies = [_strategy_row(entry) for entry in document.get("strategies") or [] if isinstance(entry, dict)]
    view.roles = _roles(document, judge)
    view.needs_judge = [displayable(probe) for probe in document.get("needs_judge") or []]
    view.over_refusal = over_refusal_view(document)
    view.errors = int(summary.get("errors", view.outcomes["error"]))  # older documents count attack errors only
    view.headline = _headline(view)
    return view


def _strategy_row(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    row = ProbeRow.of({**entry, "probe_id": "*", "title": "", "owasp": "", "severity": "info"})
    median = entry.get("median_queries_to_success")
    return (
        displayable(entry.get("strategy")),
        f"{row.counts.get('vulnerable', 0)}/{row.scored}",
        row.asr_text,
        "—" if median is None else f"{median:g}",
    )


def _roles(document: dict[str, Any], judge: str) -> list[tuple[str, str]]:
    found = document.get("roles")
    roles: dict[str, Any] = found if isinstance(found, dict) else {}
    usage = roles.get("usage") or {}
    rows = []
    for role in ("attacker", "judge"):
        if roles.get(role):
            used = usage.get(role) or {}
            text = f"{displayable(roles[role])} ({used.get('requests', 0)} requests, {used.get('errors', 0)} errors)"
            rows.append((f"{role.capitalize()} model", text))
    if roles.get("judge"):
        rows.append(("Judge calibration", judge or "never calibrated: run secureai judge calibrate --judge ..."))
    return rows
