"""Run one stored scan: plan from its options, attack its target, checkpoint attempts, then write findings.

The scan row carries the legacy columns too (status, progress, vulnerability_count, risk_score, started_at,
completed_at, duration, results), so a legacy client reading `scans` still makes sense of a platform scan.
Running a scan that already has attempts continues it: only the missing attempts are sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.compliance.persist import write_compliance
from app.config import get_settings
from app.core.crypto import SecretDecryptError
from app.crud.attempts import fingerprint, record_of
from app.crud.packs import pinned_packs
from app.crud.retest import CARRIED_KEY, SCORED_KEY, carried_after
from app.crud.targets import egress_policy, engine_config
from app.db.enums import ScanStatus, Severity
from app.db.models import Attempt, Scan, Target, Vulnerability, utcnow
from app.engine.attacks import ADAPTIVE, adaptive_of, resolved_params
from app.engine.attacks.session import Budget, Roles
from app.engine.calibration import STORE_NAME, CalibrationStore
from app.engine.plan import DEFAULT_PROFILE, PlannedAttempt, Profile, build_plan, plan_fingerprint
from app.engine.probes.registry import ProbePackError
from app.engine.probes.registry import select as select_probes
from app.engine.probes.schema import Pack
from app.engine.probes.user_packs import merge_catalogue, using_packs
from app.engine.report_json import evidence_json, over_refusal_json, strategies_json
from app.engine.retest import coverage_from_counts
from app.engine.runner import Runner, RunStats, ScanAbortedError, preflight
from app.engine.scoring import DEFAULT_ERROR_THRESHOLD, ScanScore, probe_infos, score_records
from app.engine.strategies import parse_stacks
from app.engine.targets import TargetConfig, TargetConfigError, build_connector
from app.engine.targets.errors import TargetAuthError, TargetUnreachableError
from app.engine.targets.resilience import ResilientConnector
from app.jobs.sink import DatabaseSink
from app.reports.redaction import redact_result

log = logging.getLogger("secureai.jobs")

#: How often a running scan looks at `cancel_requested_at`.
CANCEL_POLL_S = 0.5
#: How often a running scan's worker writes `heartbeat_at` (app.jobs.ownership reads it).
HEARTBEAT_S = 5.0


#: The profile of scans stored before profiles existed.
LEGACY_PROFILE: Profile = "standard"


@dataclass(frozen=True)
class ScanOptions:
    """What to send, as stored in `scans.options` (the API validates it on the way in)."""

    probes: str = "all"
    strategies: str = "none"
    repeat: int = 1
    seed: int = 0
    concurrency: int | None = None
    max_error_share: float = DEFAULT_ERROR_THRESHOLD
    #: Stored targets acting as the attacker model (pair, tap, crescendo) and the judge model; None: none.
    attacker_target_id: int | None = None
    judge_target_id: int | None = None
    #: Adaptive strategy parameters, {"pair": {"streams": 2}} (validated like `--attack-option`).
    attack_options: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Per-role caps for the run, {"target": 2000, "attacker": 500}; absent roles have none.
    max_requests: dict[str, int] = field(default_factory=dict)
    max_tokens: dict[str, int] = field(default_factory=dict)
    #: How many prompts of each probe (`secureai scan --profile`).
    profile: Profile = DEFAULT_PROFILE
    #: The user probe packs the scan runs, fixed when it starts (app.crud.packs.pins_of): name, the platform's
    #: version, the version the YAML declares, sha256. A resumed scan reads exactly these versions back.
    packs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ScanOptions:
        known = {name: value for name, value in (data or {}).items() if name in cls.__dataclass_fields__}
        # a scan stored before profiles sent every prompt of the probes of its day (at most 6 each): standard
        # plans those again, so resuming or re-judging it keeps its attempts
        if data:
            known.setdefault("profile", LEGACY_PROFILE)
        return cls(**known)

    def as_json(self) -> dict[str, Any]:
        """What `scans.options` stores."""
        return {name: value for name, value in vars(self).items()}


@dataclass
class ScanPlan:
    """The probes and attempts of a scan, and the plan's fingerprint."""

    probes: dict[str, Any]
    attempts: list[PlannedAttempt] = field(default_factory=list)
    fingerprint: str = ""


def plan_scan(options: ScanOptions, packs: Sequence[Pack] = ()) -> ScanPlan:
    """The deterministic attempt plan for `options`, selecting among the shipped probes and those of the user
    `packs` (ValueError/ProbePackError with a one-line reason; a pack clash is a ProbePackError naming both)."""
    probes = select_probes(options.probes, merge_catalogue(packs) if packs else None)
    attempts = build_plan(probes, parse_stacks(options.strategies), options.repeat, options.seed, options.profile)
    return ScanPlan({probe.id: probe for probe in probes}, attempts, plan_fingerprint(attempts))


def _finish(session: Session, scan: Scan, status: ScanStatus, error: str | None = None) -> None:
    now = utcnow()
    scan.status = status
    scan.error_message = error
    scan.completed_at = now
    if scan.started_at:
        scan.duration = int((now - scan.started_at).total_seconds())


def _fail(sessions: sessionmaker[Session], scan_id: int, message: str) -> ScanStatus:
    with sessions() as session, session.begin():
        scan = session.get_one(Scan, scan_id)
        _finish(session, scan, ScanStatus.FAILED, message)
    log.warning("scan %s failed: %s", scan_id, message)
    return ScanStatus.FAILED


def fail_unexpected(sessions: sessionmaker[Session], scan_id: int, error: BaseException) -> ScanStatus:
    """End a scan `failed` after an error nobody foresaw (named by type only: its text may quote anything)."""
    log.debug("scan %s: unexpected error", scan_id, exc_info=error)
    return _fail(sessions, scan_id, f"the scan job stopped on an unexpected error ({type(error).__name__})")


def write_findings(session: Session, scan: Scan, probes: dict[str, Any], error_threshold: float) -> ScanScore:
    """Score the scan's attempts and (re)write its findings and legacy summary columns."""
    records = [record_of(row) for row in session.scalars(select(Attempt).where(Attempt.scan_id == scan.id))]
    # the probes' kinds keep over-refusal (benign prompts refused) out of the findings, the risk and compliance
    info = probe_infos(probes.values())
    score = score_records(records, info, error_threshold)
    session.execute(delete(Vulnerability).where(Vulnerability.scan_id == scan.id))
    finding_rows: dict[str, Vulnerability] = {}
    for finding in score.findings:
        probe = probes.get(finding.probe_id)
        low, high = finding.interval
        stacks = sorted(
            stack for (pid, stack), sub in score.by_strategy.items() if pid == finding.probe_id and sub.vulnerable
        )
        # stored masked: findings are read far more often than written, and a leaky target's credentials
        # have no business in the findings table (the attempts keep the raw answers for re-scoring)
        evidence = redact_result([evidence_json(record) for record in finding.evidence])
        finding_rows[finding.probe_id] = Vulnerability(
            scan_id=scan.id,
            title=finding.title[:200],
            description=probe.description if probe else None,
            severity=Severity(finding.severity),
            probe_name=finding.probe_id,
            probe_category=finding.owasp,
            evidence=json.dumps(evidence, ensure_ascii=False),
            remediation=probe.remediation if probe else None,
            # the stacks it succeeded with and the scored attempts per stack: what a later scan must re-test
            extra_data={
                "strategy_stacks": stacks,
                SCORED_KEY: {
                    stack: sub.scored for (pid, stack), sub in score.by_strategy.items() if pid == finding.probe_id
                },
            },
            fingerprint=fingerprint(scan.target_id, finding.probe_id),
            owasp=finding.owasp,
            asr=finding.asr,
            asr_low=low,
            asr_high=high,
            attempts=finding.attempts,
            outcome_counts={str(outcome): count for outcome, count in finding.counts.items()},
        )
        session.add(finding_rows[finding.probe_id])
    session.flush()
    write_compliance(session, scan, score.probes, {pid: row.id for pid, row in finding_rows.items()})
    coverage = coverage_from_counts(
        (probe_id, stack, outcome, count)
        for (probe_id, stack), sub in score.by_strategy.items()
        for outcome, count in sub.counts.items()
    )
    scan.vulnerability_count = len(score.findings)
    scan.risk_score = score.risk_score
    scan.progress = 100.0
    scan.results = {
        "attempts": score.attempts,
        "total_attempts": score.total_attempts,
        "errors": score.errors,
        "outcomes": {str(outcome): count for outcome, count in score.totals.items()},
        "empty_answers": score.empty,
        "error_share": round(score.error_share, 4),
        "inconclusive": score.inconclusive,
        "risk_score": score.risk_score,
        "findings": len(score.findings),
        # per strategy stack over all probes (ASR, interval, median queries to success), as the result document
        "strategies": strategies_json(score),
        # benign prompts the target refused, as the result document's `usability` (the dashboard shows it)
        "usability": redact_result({"over_refusal": over_refusal_json(score.over_refusal)}),
        # earlier findings of the target this scan neither found nor re-tested: still open (the overview)
        CARRIED_KEY: carried_after(session, scan, {row.fingerprint or "" for row in finding_rows.values()}, coverage),
    }
    return score


@dataclass
class RoleConfigs:
    """The engine configurations of a scan's attacker and judge targets (None: that role is not used)."""

    attacker: TargetConfig | None = None
    judge: TargetConfig | None = None


def role_configs(session: Session, options: ScanOptions) -> RoleConfigs:
    """Open the attacker's and judge's stored targets exactly as the scan's own (sealed credentials opened in
    memory, `engine_config`); ValueError naming the role when one is gone or unusable."""
    configs = RoleConfigs()
    for role, target_id in (("attacker", options.attacker_target_id), ("judge", options.judge_target_id)):
        if target_id is None:
            continue
        target = session.get(Target, target_id)
        if target is None:
            raise ValueError(f"the {role} model's target {target_id} no longer exists")
        try:
            setattr(configs, role, engine_config(target))
        except (TargetConfigError, SecretDecryptError, ValueError) as error:
            reason = str(error).strip("'\"")
            raise ValueError(f"the {role} model (target {target.name!r}): {reason}") from None
    return configs


def adaptive_settings(plan: ScanPlan, options: ScanOptions) -> dict[str, dict[str, int]]:
    """The parameters each adaptive strategy of the plan runs with (recorded in the result, as the CLI does)."""
    names = {strategy.name for attempt in plan.attempts if (strategy := adaptive_of(attempt.stack)) is not None}
    return {name: resolved_params(ADAPTIVE[name], options.attack_options) for name in sorted(names)}


def run_record(roles: Roles, configs: RoleConfigs, plan: ScanPlan, options: ScanOptions) -> dict[str, Any]:
    """What the run adds to the scan's result: the roles (labels, caps, what each used this run), the judge's
    last calibration and the adaptive settings; the same fields `secureai scan` records."""
    settings = adaptive_settings(plan, options)
    judge = configs.judge.label if configs.judge else None
    calibration = CalibrationStore(get_settings().data_dir / STORE_NAME).latest(judge) if judge else None
    return {
        "roles": {"attacker": configs.attacker.label if configs.attacker else None, "judge": judge}
        | roles.budget.as_dict(),
        "judge_calibration": calibration,
        **({"adaptive": settings} if settings else {}),
    }


async def run_scan(sessions: sessionmaker[Session], scan_id: int, stop: asyncio.Event | None = None) -> ScanStatus:
    """Run (or continue) scan `scan_id` to its end; returns the status it ended in.

    `stop` set by the caller (server shutdown) leaves the scan `running` with its attempts checkpointed, for
    the next start to continue; a cancel request on the scan row ends it `cancelled`, and so does a per-run
    budget that runs out (with a message saying so and how many attempts were left).
    """
    with sessions() as session, session.begin():
        scan = session.get_one(Scan, scan_id)
        if scan.status in (ScanStatus.COMPLETED, ScanStatus.FAILED, ScanStatus.CANCELLED):
            return scan.status
        options = ScanOptions.from_json(scan.options)
        target = session.get(Target, scan.target_id) if scan.target_id else None
        if target is None:
            return _fail(sessions, scan_id, "the scan has no target")
        try:
            packs = [stored.pack for stored in pinned_packs(session, options.packs)]
            plan = plan_scan(options, packs)
            config = engine_config(target)
            configs = role_configs(session, options)
        except (ProbePackError, ValueError, KeyError, TargetConfigError, SecretDecryptError) as error:
            return _fail(sessions, scan_id, str(error).strip("'\""))
        scan.status = ScanStatus.RUNNING
        scan.started_at = scan.started_at or utcnow()
        scan.heartbeat_at = utcnow()
        scan.attempts_planned = len(plan.attempts)
    sink = DatabaseSink(sessions, scan_id, len(plan.attempts))
    built: dict[str, ResilientConnector] = {}
    # the attacker and judge are built like the target: same egress policy, credentials opened in memory only
    for role, role_config in (("target", config), ("attacker", configs.attacker), ("judge", configs.judge)):
        if role_config is None:
            continue
        what = "the target's connector" if role == "target" else f"the {role} model's connector"
        try:
            built[role] = build_connector(role_config, egress=egress_policy())
        except TargetConfigError as error:  # e.g. an http target's response_path that is not JSONPath
            await _close(built.values())
            return _fail(sessions, scan_id, one_line(str(error) if role == "target" else f"{what}: {error}"))
        except Exception as error:  # whatever it is, the scan must end, not hang `running`
            await _close(built.values())
            return _fail(sessions, scan_id, f"{what} could not be set up ({type(error).__name__})")
    connector = built["target"]
    budget = Budget(dict(options.max_requests), dict(options.max_tokens))
    roles = Roles(connector, attacker=built.get("attacker"), judge=built.get("judge"), budget=budget)
    runner = Runner(
        connector, sink, concurrency=options.concurrency, roles=roles, attack_options=options.attack_options
    )
    try:
        outcome = await _run_until_done(sessions, scan_id, runner, plan.attempts, stop)
    finally:
        await _close(built.values())
    if outcome == "stopped":
        return ScanStatus.RUNNING
    if isinstance(outcome, BaseException):
        return _fail(sessions, scan_id, one_line(str(outcome)) or type(outcome).__name__)
    exhausted = outcome.budget_exhausted if isinstance(outcome, RunStats) else None
    status = ScanStatus.COMPLETED if isinstance(outcome, RunStats) and not exhausted else ScanStatus.CANCELLED
    with sessions() as session, session.begin():
        scan = session.get_one(Scan, scan_id)
        # the compliance mapping reads probes from the registry: the user packs' tags count as the shipped ones do
        with using_packs(packs) if packs else nullcontext():
            score = write_findings(session, scan, plan.probes, options.max_error_share)
        ran = run_record(roles, configs, plan, options)
        # as the CLI's result: 429 answers and retried requests of the run that finished the scan
        ran |= {"rate_limited_responses": connector.rate_limited, "retried_requests": connector.retried}
        message = None
        if exhausted:
            left = len(plan.attempts) - score.attempts
            message = f"stopped early: {exhausted}; {left} attempt(s) not finished"
            ran["budget_exhausted"] = exhausted
        scan.results = {**(scan.results or {}), **ran}
        _finish(session, scan, status, message)
    return status


async def _close(connectors: Iterable[ResilientConnector]) -> None:
    for connector in connectors:
        await connector.aclose()


async def _run_until_done(
    sessions: sessionmaker[Session],
    scan_id: int,
    runner: Runner,
    attempts: Sequence[PlannedAttempt],
    stop: asyncio.Event | None,
) -> RunStats | str | BaseException:
    """The run's figures when it ran to its end (all attempts, or until a budget ran out), 'cancelled' (the
    scan row asked), 'stopped' (`stop` was set) or the error that ended it.

    The preflight runs inside the watched task, so a cancel (or a shutdown) also ends a scan whose target
    takes its time to answer the first request.
    """
    work = asyncio.create_task(_preflight_then_run(runner, attempts))
    last_beat = time.monotonic()
    live = {"rate_limited": 0, "retried": 0}
    while not work.done():
        await asyncio.wait({work}, timeout=CANCEL_POLL_S)
        if work.done():
            break
        if stop is not None and stop.is_set():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return "stopped"
        with sessions() as session:
            counters = {"rate_limited": runner.connector.rate_limited, "retried": runner.connector.retried}
            if counters != live:  # the running scan's page shows them (app.crud.findings.pace)
                live = counters
                results = session.scalar(select(Scan.results).where(Scan.id == scan_id)) or {}
                session.execute(update(Scan).where(Scan.id == scan_id).values(results={**results, "live": live}))
                session.commit()
            if time.monotonic() - last_beat >= HEARTBEAT_S:  # alive even while no attempt finishes (slow target)
                session.execute(update(Scan).where(Scan.id == scan_id).values(heartbeat_at=utcnow()))
                session.commit()
                last_beat = time.monotonic()
            if session.scalar(select(Scan.cancel_requested_at).where(Scan.id == scan_id)) is not None:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                return "cancelled"
    failure = work.exception()
    if failure is None:
        return work.result()
    if isinstance(failure, (ScanAbortedError, TargetAuthError, TargetUnreachableError, ScanSetupError)):
        return failure
    if isinstance(failure, DBAPIError):  # the database went away: the attempts so far are checkpointed, the
        raise failure  # scan stays `running` and is continued by the next worker start
    # anything else is a bug or an answer nobody foresaw: end the scan with a reason instead of leaving it
    # `running` for ever (nothing would poll its cancel request any more)
    log.warning("scan %s stopped by an unexpected %s", scan_id, type(failure).__name__)
    return ScanSetupError(f"the scan stopped on an unexpected error ({type(failure).__name__})")


class ScanSetupError(Exception):
    """The scan cannot go on for a reason that is neither the target's answer nor a cancel (one line)."""


async def _preflight_then_run(runner: Runner, attempts: Sequence[PlannedAttempt]) -> RunStats:
    """One tiny request first (an unreachable target, refused credentials or an egress refusal end the scan
    before it starts), then the attempts."""
    try:
        await preflight(runner.connector)
    except (TargetAuthError, TargetUnreachableError):
        raise
    except Exception as error:  # e.g. a connector that breaks on its first request
        raise ScanSetupError(f"the first request to the target failed unexpectedly ({type(error).__name__})") from None
    return await runner.run(attempts)


def one_line(text: str, limit: int = 500) -> str:
    """A failure reason as stored on the scan row: one line, bounded."""
    flat = " ".join(text.strip("'\"").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
