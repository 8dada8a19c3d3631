"""Run one stored scan: plan from its options, attack its target, checkpoint attempts, then write findings.

The scan row carries the legacy columns too (status, progress, vulnerability_count, risk_score, started_at,
completed_at, duration, results), so a legacy client reading `scans` still makes sense of a platform scan.
Running a scan that already has attempts continues it: only the missing attempts are sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.compliance.persist import write_compliance
from app.core.crypto import SecretDecryptError
from app.crud.targets import egress_policy, engine_config
from app.db.enums import ScanStatus, Severity
from app.db.models import Attempt, Scan, Target, Vulnerability, utcnow
from app.engine.plan import PlannedAttempt, build_plan, plan_fingerprint
from app.engine.probes.registry import ProbePackError
from app.engine.probes.registry import select as select_probes
from app.engine.report_json import evidence_json
from app.engine.runner import Runner, ScanAbortedError, preflight
from app.engine.scoring import DEFAULT_ERROR_THRESHOLD, ProbeInfo, ScanScore, score_records
from app.engine.strategies import parse_stacks
from app.engine.targets import TargetConfigError, build_connector
from app.engine.targets.errors import TargetAuthError, TargetUnreachableError
from app.jobs.sink import DatabaseSink, record_of
from app.reports.redaction import redact_result

log = logging.getLogger("secureai.jobs")

#: How often a running scan looks at `cancel_requested_at`.
CANCEL_POLL_S = 0.5
#: How often a running scan's worker writes `heartbeat_at` (app.jobs.ownership reads it).
HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class ScanOptions:
    """What to send, as stored in `scans.options` (the API validates it on the way in)."""

    probes: str = "all"
    strategies: str = "none"
    repeat: int = 1
    seed: int = 0
    concurrency: int | None = None
    max_error_share: float = DEFAULT_ERROR_THRESHOLD

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ScanOptions:
        known = {name: value for name, value in (data or {}).items() if name in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class ScanPlan:
    """The probes and attempts of a scan, and the plan's fingerprint."""

    probes: dict[str, Any]
    attempts: list[PlannedAttempt] = field(default_factory=list)
    fingerprint: str = ""


def plan_scan(options: ScanOptions) -> ScanPlan:
    """The deterministic attempt plan for `options` (ValueError/ProbePackError with a one-line reason)."""
    probes = select_probes(options.probes)
    attempts = build_plan(probes, parse_stacks(options.strategies), options.repeat, options.seed)
    return ScanPlan({probe.id: probe for probe in probes}, attempts, plan_fingerprint(attempts))


def fingerprint(target_id: int | None, probe_id: str) -> str:
    """The same weakness of the same target in two scans has one fingerprint (triage follows it)."""
    return hashlib.sha256(f"secureai-finding|{target_id}|{probe_id}".encode()).hexdigest()


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
    info = {pid: ProbeInfo(p.owasp, p.severity, p.title) for pid, p in probes.items()}
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
            extra_data={"strategy_stacks": stacks},
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
    scan.vulnerability_count = len(score.findings)
    scan.risk_score = score.risk_score
    scan.progress = 100.0
    scan.results = {
        "attempts": score.attempts,
        "outcomes": {str(outcome): count for outcome, count in score.totals.items()},
        "empty_answers": score.empty,
        "error_share": round(score.error_share, 4),
        "inconclusive": score.inconclusive,
        "risk_score": score.risk_score,
        "findings": len(score.findings),
    }
    return score


async def run_scan(sessions: sessionmaker[Session], scan_id: int, stop: asyncio.Event | None = None) -> ScanStatus:
    """Run (or continue) scan `scan_id` to its end; returns the status it ended in.

    `stop` set by the caller (server shutdown) leaves the scan `running` with its attempts checkpointed, for
    the next start to continue; a cancel request on the scan row ends it `cancelled`.
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
            plan = plan_scan(options)
            config = engine_config(target)
        except (ProbePackError, ValueError, KeyError, TargetConfigError, SecretDecryptError) as error:
            return _fail(sessions, scan_id, str(error).strip("'\""))
        scan.status = ScanStatus.RUNNING
        scan.started_at = scan.started_at or utcnow()
        scan.heartbeat_at = utcnow()
        scan.attempts_planned = len(plan.attempts)
    sink = DatabaseSink(sessions, scan_id, len(plan.attempts))
    try:
        connector = build_connector(config, egress=egress_policy())
    except TargetConfigError as error:  # e.g. an http target's response_path that is not JSONPath
        return _fail(sessions, scan_id, one_line(str(error)))
    except Exception as error:  # whatever it is, the scan must end, not hang `running`
        return _fail(sessions, scan_id, f"the target's connector could not be set up ({type(error).__name__})")
    runner = Runner(connector, sink, concurrency=options.concurrency)
    try:
        outcome = await _run_until_done(sessions, scan_id, runner, plan.attempts, stop)
    finally:
        await connector.aclose()
    if outcome == "stopped":
        return ScanStatus.RUNNING
    if isinstance(outcome, BaseException):
        return _fail(sessions, scan_id, one_line(str(outcome)) or type(outcome).__name__)
    with sessions() as session, session.begin():
        scan = session.get_one(Scan, scan_id)
        write_findings(session, scan, plan.probes, options.max_error_share)
        _finish(session, scan, ScanStatus.CANCELLED if outcome == "cancelled" else ScanStatus.COMPLETED)
    return ScanStatus.CANCELLED if outcome == "cancelled" else ScanStatus.COMPLETED


async def _run_until_done(
    sessions: sessionmaker[Session],
    scan_id: int,
    runner: Runner,
    attempts: Sequence[PlannedAttempt],
    stop: asyncio.Event | None,
) -> str | BaseException:
    """'done', 'cancelled' (the scan row asked), 'stopped' (`stop` was set) or the error that ended it.

    The preflight runs inside the watched task, so a cancel (or a shutdown) also ends a scan whose target
    takes its time to answer the first request.
    """
    work = asyncio.create_task(_preflight_then_run(runner, attempts))
    last_beat = time.monotonic()
    while not work.done():
        await asyncio.wait({work}, timeout=CANCEL_POLL_S)
        if work.done():
            break
        if stop is not None and stop.is_set():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return "stopped"
        with sessions() as session:
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
        return "done"
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


async def _preflight_then_run(runner: Runner, attempts: Sequence[PlannedAttempt]) -> None:
    """One tiny request first (an unreachable target, refused credentials or an egress refusal end the scan
    before it starts), then the attempts."""
    try:
        await preflight(runner.connector)
    except (TargetAuthError, TargetUnreachableError):
        raise
    except Exception as error:  # e.g. a connector that breaks on its first request
        raise ScanSetupError(f"the first request to the target failed unexpectedly ({type(error).__name__})") from None
    await runner.run(attempts)


def one_line(text: str, limit: int = 500) -> str:
    """A failure reason as stored on the scan row: one line, bounded."""
    flat = " ".join(text.strip("'\"").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
