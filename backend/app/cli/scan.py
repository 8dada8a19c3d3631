"""`secureai scan`: attack a target with probe packs and report which attacks worked."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from app.cli.judge import latest_calibration
from app.cli.output import ExitCode, console, err_console, fail
from app.cli.packs import PacksOption, activate_packs
from app.cli.triage import load_triage_option
from app.engine.attacks import ADAPTIVE, adaptive_of, needing_attacker, parse_attack_options, resolved_params
from app.engine.attacks.session import ROLES, Budget, Roles
from app.engine.attacks.session import parse_role_caps as role_caps
from app.engine.model import AttemptRecord, Outcome
from app.engine.plan import DEFAULT_PROFILE, PlannedAttempt, Profile, build_plan, plan_fingerprint, profile_counts
from app.engine.probes.registry import ProbePackError, select
from app.engine.report_json import scan_result_json
from app.engine.runner import Runner, RunStats, ScanAbortedError, preflight
from app.engine.scoring import (
    DEFAULT_ERROR_THRESHOLD,
    REFUSED_BENIGN,
    USABILITY_KINDS,
    ScanScore,
    probe_infos,
    score_records,
)
from app.engine.sinks import JsonlSink, iter_records, read_header
from app.engine.strategies import parse_stacks
from app.engine.targets import TargetConfigError, build_connector, load_target_config
from app.engine.targets.errors import TargetAuthError, TargetUnreachableError
from app.reports.baseline import compare
from app.reports.redaction import redact_result
from app.reports.render import render
from app.reports.source import ReportSourceError, result_from_file
from app.reports.triage import apply_triage, blocking_findings, is_set_aside


class RateColumn(ProgressColumn):
    """Attempts per second, worked out when the bar is drawn (ten times a second) rather than per attempt: Rich's
    estimate sums up to a thousand samples each time it is asked."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0.0:.1f} att/s")


Severity = Literal["critical", "high", "medium", "low", "info"]
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(min|m|s|sec))?\s*$")


def parse_rate(value: str | None) -> float | None:
    """`60/min`, `2/s` or a bare number (per minute) -> requests per minute."""
    if value is None:
        return None
    match = _RATE.match(value)
    if not match:
        raise typer.BadParameter(f"{value!r} is not a rate like 60/min or 2/s")
    amount = float(match.group(1))
    return amount * 60 if match.group(2) in ("s", "sec") else amount


def parse_role_caps(values: list[str] | None, option: str) -> dict[str, int]:
    """`--max-requests`/`--max-tokens` values as caps per role (BadParameter naming the roles otherwise)."""
    try:
        return role_caps(values or [])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _pack_versions(records: object) -> set[tuple[object, ...]]:
    """The user packs a scan ran, as (name, version, digest): where they were read from does not matter."""
    if not isinstance(records, list):
        return set()
    return {(r.get("name"), r.get("version"), r.get("sha256")) for r in records if isinstance(r, dict)}


def worst_case_requests(plan: list[PlannedAttempt], options: dict[str, dict[str, int]], judged: bool) -> dict[str, int]:
    """The most requests per role the plan can make (adaptive attacks at their limits; repairs excluded)."""
    totals: dict[str, int] = dict.fromkeys(ROLES, 0)
    for attempt in plan:
        strategy = adaptive_of(attempt.stack)
        if strategy is None:
            # a bias pair sends its script once per value of the pair slot, each in its own conversation
            conversations = len(attempt.probe.pair_values) or 1
            totals["target"] += conversations * len(attempt.probe.script_of(attempt.prompt_index))
            totals["judge"] += 1 if judged and attempt.probe.judge_rubric else 0
            continue
        for role, count in strategy.worst_case(resolved_params(strategy, options), judged).items():
            totals[role] += count
    return totals


def estimate(
    plan: list[PlannedAttempt],
    max_tokens: int,
    concurrency: int,
    rpm: float | None,
    options: dict[str, dict[str, int]] | None = None,
    judged: bool = False,
) -> dict[str, Any]:
    """Attempts, requests per role, tokens and duration a plan will take at worst, for --dry-run (one second a
    request assumed)."""
    roles = worst_case_requests(plan, options or {}, judged)
    requests = roles["target"]
    prompt_chars = sum(len(attempt.user_turns(attempt.context())[-1]) for attempt in plan)
    seconds = sum(roles.values()) / concurrency
    if rpm:
        seconds = max(seconds, requests / rpm * 60)
    return {
        "attempts": len(plan),
        "requests": requests,
        "requests_by_role": roles,
        "estimated_prompt_tokens": prompt_chars // 4,
        "estimated_completion_tokens": requests * max_tokens,
        "estimated_seconds": round(seconds, 1),
    }


def scan(
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="Target file (.yaml/.json) or TYPE:MODEL\\[@BASE_URL], e.g. openai:gpt-4o-mini@http://localhost:8080/v1",
        ),
    ],
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Model name (overrides the target's).")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable holding the API key.")] = None,
    probes: Annotated[
        str,
        typer.Option(
            "--probes",
            "-p",
            help="Probe selection: all, owasp:LLM01, tag:jailbreak, "
            "severity:high, pack:NAME, id:PATTERN; comma = or, + = and.",
        ),
    ] = "all",
    packs: PacksOption = None,
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated strategy stacks; `none` sends prompts "
            "unmodified, `a+b` composes. See `secureai strategies list`."
        ),
    ] = "none",
    profile: Annotated[
        Profile,
        typer.Option(
            help="How many prompts of each probe: quick (2, spread over its templates; the default), standard (8), "
            "full (every prompt and slot combination). --dry-run shows the count of each."
        ),
    ] = DEFAULT_PROFILE,
    repeat: Annotated[int, typer.Option(min=1, help="Times each prompt is sent (for ASR confidence).")] = 1,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Attempts in flight at once.")] = None,
    rate: Annotated[str | None, typer.Option(help="Request budget, e.g. 60/min or 2/s.")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Seconds per request before a retry.")] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Attempt log (JSONL), the checkpoint --resume reads.")
    ] = Path("secureai-results.jsonl"),
    output_format: Annotated[Literal["table", "json"], typer.Option("--format", help="Summary on stdout.")] = "table",
    fail_on: Annotated[Severity | None, typer.Option(help="Exit 1 if a finding is at least this severe.")] = None,
    fail_on_over_refusal: Annotated[
        float | None,
        typer.Option(
            "--fail-on-over-refusal",
            min=0,
            max=1,
            metavar="RATE",
            help="Exit 1 if the over-refusal rate (benign prompts refused / scored, a usability measure kept out "
            "of --fail-on) is above RATE, e.g. 0.1; needs over-refusal probes in --probes (pack:over_refusal).",
        ),
    ] = None,
    max_error_share: Annotated[
        float, typer.Option(min=0, max=1, help="Above this share of errors the scan is inconclusive (exit 4).")
    ] = DEFAULT_ERROR_THRESHOLD,
    seed: Annotated[int, typer.Option(help="Seed of canaries, markers and strategies (same seed, same text).")] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and its estimated cost; send nothing.")
    ] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the scan recorded in --out.")] = False,
    sarif: Annotated[Path | None, typer.Option(help="Also write a SARIF 2.1.0 report here (code scanning).")] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write JUnit XML here (one test case per probe).")] = None,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Also write the JSON result (docs/scan-json.md) here.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="An earlier --report/--format json result; the summary says what is new.")
    ] = None,
    fail_on_new: Annotated[
        bool,
        typer.Option("--fail-on-new", help="With --baseline: exit 1 only for new findings (at or above --fail-on)."),
    ] = False,
    triage_path: Annotated[
        Path | None,
        typer.Option(
            "--triage",
            help="A secureai.triage/v1 file (JSON or YAML; `secureai triage export`): its false positives and "
            "unexpired accepted risks are marked in every report and do not fail --fail-on.",
        ),
    ] = None,
    attacker: Annotated[
        str | None,
        typer.Option(
            help="Attacker model for the adaptive strategies pair, tap and crescendo: a target file or "
            "TYPE:MODEL\\[@BASE_URL], like --target. Never used unless given.",
            rich_help_panel="Adaptive attacks and judge",
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            help="Judge model that grades responses on each probe's rubric (a target file or TYPE:MODEL\\[@URL]). "
            "Calibrate it first: `secureai judge calibrate --judge SPEC`.",
            rich_help_panel="Adaptive attacks and judge",
        ),
    ] = None,
    attack_option: Annotated[
        list[str] | None,
        typer.Option(
            "--attack-option",
            help="Adaptive strategy parameter, repeatable: pair.streams=3, pair.iterations=4, tap.depth=3, "
            "tap.branching=2, tap.width=3, crescendo.turns=5, crescendo.backtracks=3, best_of_n.samples=10.",
            rich_help_panel="Adaptive attacks and judge",
        ),
    ] = None,
    max_requests: Annotated[
        list[str] | None,
        typer.Option(
            "--max-requests",
            help="Cap on requests per role for this run, repeatable: target=2000, attacker=500, judge=1000. "
            "When one runs out the scan stops cleanly; raise it and --resume.",
            rich_help_panel="Adaptive attacks and judge",
        ),
    ] = None,
    max_tokens: Annotated[
        list[str] | None,
        typer.Option(
            "--max-tokens",
            help="Cap on tokens (prompt + completion) per role for this run, repeatable: attacker=200000.",
            rich_help_panel="Adaptive attacks and judge",
        ),
    ] = None,
) -> None:
    """Attack TARGET with the selected probes. Exit codes: 0 pass, 1 findings at or above --fail-on (new ones
    only with --baseline --fail-on-new) or an over-refusal rate above --fail-on-over-refusal, 2 usage error,
    3 target unreachable or credentials refused, 4 inconclusive (too many errors, or no benign prompt scored
    for --fail-on-over-refusal)."""
    if fail_on_new and baseline is None:
        fail("--fail-on-new needs --baseline PREVIOUS.json", ExitCode.USAGE)
    triage_entries = load_triage_option(triage_path)
    previous = _load_baseline(baseline) if baseline else None
    try:
        config = load_target_config(
            target,
            {
                "model": model,
                "api_key_env": api_key_env,
                "max_concurrency": concurrency,
                "requests_per_minute": parse_rate(rate),
                "timeout_s": timeout,
            },
        )
        user_packs = [pack.record() for pack in activate_packs(ctx, packs)]
        selected = select(probes)
        stacks = parse_stacks(strategies)
        options = parse_attack_options(attack_option or [])
        attacker_config = load_target_config(attacker, {}) if attacker else None
        judge_config = load_target_config(judge, {}) if judge else None
    except (TargetConfigError, ProbePackError, ValueError, KeyError) as error:
        fail(str(error).strip("'\""), ExitCode.USAGE)
    if fail_on_over_refusal is not None and not any(probe.kind in USABILITY_KINDS for probe in selected):
        fail(
            f"--fail-on-over-refusal needs over-refusal probes, and --probes {probes!r} selects none "
            "(add pack:over_refusal)",
            ExitCode.USAGE,
        )
    budget = Budget(parse_role_caps(max_requests, "--max-requests"), parse_role_caps(max_tokens, "--max-tokens"))
    needing = needing_attacker(stacks)
    if needing and attacker_config is None:
        fail(
            f"strategy {', '.join(needing)} needs --attacker SPEC: the model that writes the attacks "
            "(best_of_n needs none; see docs/adaptive.md)",
            ExitCode.USAGE,
        )
    plan = build_plan(selected, stacks, repeat, seed, profile)
    fingerprint = plan_fingerprint(plan)
    cost = estimate(
        plan, config.max_tokens or 0, config.max_concurrency, config.requests_per_minute, options, judge is not None
    )
    if dry_run:
        cost["profile"] = profile
        cost["attempts_by_profile"] = profile_counts(selected, stacks, repeat)
        _print_plan(plan, cost, config.label, output_format)
        return
    leading = {strategy.name for stack in stacks if (strategy := adaptive_of(stack)) is not None}
    adaptive_settings = {name: resolved_params(ADAPTIVE[name], options) for name in sorted(leading)}
    calibration = latest_calibration(judge_config.label) if judge_config else None
    if resume:
        if not out.exists():
            fail(f"--resume: {out} does not exist; run the scan without --resume first", ExitCode.USAGE)
        header = read_header(out)
        if header and header.get("plan") != fingerprint:
            fail(
                f"--resume: {out} was written by a different plan (other probes, profile, strategies, repeat or seed)",
                ExitCode.USAGE,
            )
        if header and (header.get("adaptive") or {}) != adaptive_settings:
            fail(
                f"--resume: {out} was written with other adaptive settings ({header.get('adaptive') or 'none'}); "
                "resume with the same --attack-option values",
                ExitCode.USAGE,
            )
        if header and _pack_versions(header.get("user_packs")) != _pack_versions(user_packs):
            fail(f"--resume: {out} was written with other --packs (or other versions of them)", ExitCode.USAGE)
    sink = JsonlSink(out, resume=resume)
    sink.write_header(
        {
            "plan": fingerprint,
            "target": config.label,
            "probes": probes,
            "strategies": strategies,
            "repeat": repeat,
            "seed": seed,
            "profile": profile,
            "attempts": len(plan),
            **({"adaptive": adaptive_settings} if adaptive_settings else {}),
            **({"user_packs": user_packs} if user_packs else {}),
            **({"attacker": attacker_config.label} if attacker_config else {}),
            **({"judge": judge_config.label} if judge_config else {}),
        }
    )
    try:
        connector = build_connector(config)
        roles = Roles(
            connector,
            attacker=build_connector(attacker_config) if attacker_config else None,
            judge=build_connector(judge_config) if judge_config else None,
            budget=budget,
        )
    except TargetConfigError as error:
        fail(str(error), ExitCode.USAGE)
    skipped = len(sink.completed_keys() & {attempt.key for attempt in plan})
    try:
        stats, rate_limited = asyncio.run(
            _run(roles, sink, plan, skipped, quiet=output_format == "json", options=options)
        )
    except (TargetAuthError, TargetUnreachableError, ScanAbortedError) as error:
        fail(f"target {config.label}: {error}", ExitCode.UNREACHABLE)
    except TargetConfigError as error:
        fail(str(error), ExitCode.USAGE)
    except KeyboardInterrupt:
        err_console.print(f"interrupted; finished attempts are in {out}. Continue with the same command and --resume.")
        raise typer.Exit(130) from None
    finally:
        sink.close()
    # scored as the log is read, one attempt at a time: memory stays flat however many attempts the scan made
    recorded = [0]

    def counted(records: Iterator[AttemptRecord]) -> Iterator[AttemptRecord]:
        for record in records:
            recorded[0] += 1
            yield record

    score = score_records(counted(iter_records(out)), probe_infos(selected), max_error_share)
    meta = {
        "target": config.label,
        "selection": probes,
        "strategies": strategies,
        "repeat": repeat,
        "seed": seed,
        "profile": profile,
        "plan": fingerprint,
        "attempts_planned": len(plan),
        "results_file": str(out),
        "rate_limited_responses": rate_limited,
        "run": {"sent": stats.sent, "already_done": stats.skipped, "seconds": round(stats.seconds, 2)},
        "roles": {
            "attacker": attacker_config.label if attacker_config else None,
            "judge": judge_config.label if judge_config else None,
            **budget.as_dict(),
        },
        "judge_calibration": calibration,
        **({"user_packs": user_packs} if user_packs else {}),
        **({"adaptive": adaptive_settings} if adaptive_settings else {}),
        **({"budget_exhausted": stats.budget_exhausted} if stats.budget_exhausted else {}),
    }
    result = scan_result_json(score, meta, over_refusal_threshold=fail_on_over_refusal)
    if triage_entries is not None:
        result = apply_triage(result, triage_entries, f"file {triage_path}")
    diff = compare(result, previous) if previous is not None else None
    if diff is not None:
        result["baseline"] = {"file": str(baseline), **diff.as_dict()}
    _write_reports(result, sarif=sarif, junit=junit, report_file=report_file)
    if output_format == "json":
        typer.echo(json.dumps(redact_result(result), indent=2, ensure_ascii=False))
    else:
        _print_summary(score, result, out)
    if stats.budget_exhausted:
        left = len(plan) - recorded[0]
        err_console.print(
            f"[bold yellow]stopped early[/]: {stats.budget_exhausted}; {left} attempt(s) not finished. "
            "Raise --max-requests/--max-tokens and run the same command with --resume."
        )
        raise typer.Exit(int(ExitCode.INCONCLUSIVE))
    if diff is not None and fail_on_new:
        if [finding for finding in diff.new_at_or_above(fail_on) if not is_set_aside(finding)]:
            raise typer.Exit(int(ExitCode.FAILED))
        _exit_over_refusal(score, fail_on_over_refusal)
        if score.inconclusive:
            raise typer.Exit(int(ExitCode.INCONCLUSIVE))
        return
    _exit(score, fail_on, fail_on_over_refusal, result)


def _load_baseline(path: Path) -> dict[str, Any]:
    try:
        return result_from_file(path)
    except ReportSourceError as error:
        fail(f"--baseline: {error}", ExitCode.USAGE)


def _write_reports(result: dict[str, Any], *, sarif: Path | None, junit: Path | None, report_file: Path | None) -> None:
    """The report files asked for, credentials masked (docs/ci.md)."""
    for path, name in ((sarif, "sarif"), (junit, "junit"), (report_file, "json")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(render(result, name))
            err_console.print(f"wrote {path}")


async def _run(
    roles: Roles,
    sink: JsonlSink,
    plan: list[PlannedAttempt],
    skipped: int,
    quiet: bool,
    options: dict[str, dict[str, int]],
) -> tuple[RunStats, int]:
    """Preflight, then the run under a progress bar; returns the run's figures and the target's 429s."""
    connector = roles.target
    try:
        await preflight(connector)
        progress = Progress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("[red]{task.fields[errors]} errors"),
            TextColumn("[yellow]{task.fields[vulnerable]} vulnerable"),
            TextColumn("{task.fields[benign]}"),
            TextColumn("{task.fields[roles]}"),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
            transient=False,
        )
        counts = {"errors": 0, "vulnerable": 0, "refused_benign": 0}
        # a refused benign prompt (over-refusal probe) is a usability finding: counted apart, never as vulnerable
        benign = {attempt.probe.id for attempt in plan if attempt.probe.kind in USABILITY_KINDS}
        with progress:
            task = progress.add_task(
                "scan", total=len(plan), completed=skipped, errors=0, vulnerable=0, benign="", roles=""
            )
            show_roles = roles.attacker is not None or roles.judge is not None

            def on_progress(record: AttemptRecord) -> None:
                counts["errors"] += record.outcome is Outcome.ERROR
                if record.probe_id in benign:
                    counts["refused_benign"] += record.outcome in REFUSED_BENIGN
                else:
                    counts["vulnerable"] += record.outcome is Outcome.VULNERABLE
                usage = roles.budget.usage
                requests = (
                    " ".join(f"{role} {usage[role].requests}" for role in ROLES if usage[role].requests)
                    if show_roles
                    else ""
                )
                progress.update(
                    task,
                    advance=1,
                    errors=counts["errors"],
                    vulnerable=counts["vulnerable"],
                    benign=f"{counts['refused_benign']} benign refused" if benign else "",
                    roles=f"requests: {requests}" if requests else "",
                )

            runner = Runner(connector, sink, on_progress=on_progress, roles=roles, attack_options=options)
            stats = await runner.run(plan)
        return stats, connector.rate_limited
    finally:
        for role in (roles.target, roles.attacker, roles.judge):
            if role is not None:
                await role.aclose()


def _print_plan(plan: list[PlannedAttempt], cost: dict[str, Any], label: str, output_format: str) -> None:
    by_probe: dict[str, int] = {}
    for attempt in plan:
        by_probe[attempt.probe.id] = by_probe.get(attempt.probe.id, 0) + 1
    if output_format == "json":
        typer.echo(json.dumps({"target": label, **cost, "by_probe": by_probe}, indent=2))
        return
    console.print(
        f"plan for {label}: [bold]{cost['attempts']}[/] attempts ({cost['requests']} requests) over "
        f"{len(by_probe)} probes, profile {cost['profile']}"
    )
    console.print(
        "attempts by profile: " + ", ".join(f"{name} {count:,}" for name, count in cost["attempts_by_profile"].items())
    )
    roles = cost["requests_by_role"]
    if roles["attacker"] or roles["judge"]:
        console.print(
            "worst case per role: "
            + ", ".join(f"{role} {count:,} requests" for role, count in roles.items())
            + " (repairs of unparseable attacker/judge replies can add as many again)"
        )
    console.print(
        f"estimated tokens: ~{cost['estimated_prompt_tokens']:,} prompt + up to "
        f"{cost['estimated_completion_tokens']:,} completion; estimated time: ~{cost['estimated_seconds']:g} s"
    )


def _print_summary(score: ScanScore, result: dict[str, Any], out: Path) -> None:
    summary = result["summary"]
    table = Table("probe", "OWASP", "severity", "vulnerable/scored", "ASR (95% CI)", "strategies", title="Findings")
    for finding in result["findings"]:
        counts = finding["counts"]
        scored = counts["vulnerable"] + counts["safe"] + counts["refused"]
        low, high = finding["asr_ci95"]
        table.add_row(
            finding["probe_id"],
            finding["owasp"],
            finding["severity"],
            f"{counts['vulnerable']}/{scored}",
            f"{finding['asr']:.0%} ({low:.0%}-{high:.0%})",
            ", ".join(finding["strategy_stacks"]),
        )
    if result["findings"]:
        console.print(table)
    outcomes = ", ".join(f"{name} {count}" for name, count in summary["outcomes"].items() if count)
    usability = result["usability"]["over_refusal"]
    attack = "attack " if usability["attempts"] else ""
    console.print(f"{summary['attempts']} {attack}attempts: {outcomes or 'none'}")
    if score.empty:
        console.print(
            f"[yellow]{score.empty} empty answer(s)[/]: unscored, and counted with errors toward inconclusive "
            "(the target returned no text; check its chat template or max_tokens)"
        )
    if score.inconclusive:
        console.print(
            f"[bold red]INCONCLUSIVE[/]: {summary['error_share']:.0%} of attempts ended in errors or empty answers; "
            "the risk score is not meaningful. Check the target and --rate, then --resume or rerun."
        )
    else:
        console.print(f"findings: [bold]{summary['findings']}[/]  risk score: [bold]{summary['risk_score']}[/]/100")
    _print_over_refusal(usability)
    if "baseline" in result:
        since = result["baseline"]
        new, fixed, untested = since["new"], since["fixed"], since["not_retested"]
        console.print(
            f"since the baseline: {len(new)} new ({', '.join(new) or 'none'}), {len(fixed)} fixed, "
            f"{len(untested)} not re-tested (still open), {len(since['unchanged'])} still found"
        )
        if untested:
            reasons = since["not_retested_reasons"]
            shown = "; ".join(f"{probe} ({reasons[probe]})" for probe in untested[:NOT_RETESTED_SHOWN])
            more = f"; and {len(untested) - NOT_RETESTED_SHOWN} more" if len(untested) > NOT_RETESTED_SHOWN else ""
            console.print(f"  not re-tested: {escape(shown)}{more}")
    console.print(f"attempt log: {out}")


#: Baseline findings not re-tested that the summary names (the JSON result lists them all).
NOT_RETESTED_SHOWN = 8
#: Refused benign prompts the summary lists (the reports list up to 100).
SUMMARY_REFUSED_PROMPTS = 5


def _print_over_refusal(block: dict[str, Any]) -> None:
    """The usability line: the over-refusal rate and the first refused benign prompts, apart from findings."""
    if not block["attempts"]:
        console.print("over-refusal: not measured (no benign prompt selected; add pack:over_refusal to --probes)")
        return
    if block["rate"] is None:
        console.print(f"over-refusal: not measured ({block['attempts']} benign prompts sent, none got a scored answer)")
        return
    low, high = block["rate_ci95"]
    limit = block["threshold"]
    verdict = ""
    if limit is not None:
        verdict = (
            f", [bold red]above the {limit:.0%} limit[/]" if block["exceeds_threshold"] else f", limit {limit:.0%}"
        )
    console.print(
        f"over-refusal (usability, not in the risk score): [bold]{block['rate']:.0%}[/] of benign prompts refused "
        f"({block['refused']} of {block['scored']}, 95% CI {low:.0%}-{high:.0%}){verdict}"
    )
    prompts = block["refused_prompts"][:SUMMARY_REFUSED_PROMPTS]
    if prompts:
        table = Table("probe", "refused benign prompt", title="Refused benign prompts")
        for item in prompts:
            prompt = item["prompt"] if len(item["prompt"]) <= 100 else item["prompt"][:99] + "…"
            table.add_row(escape(item["probe_id"]), escape(prompt))
        console.print(table)
        if block["refused"] > len(prompts):
            console.print(f"...and {block['refused'] - len(prompts)} more: see usability.over_refusal in the report")


def _exit(
    score: ScanScore, fail_on: str | None, over_refusal_limit: float | None = None, result: dict[str, Any] | None = None
) -> None:
    """Exit 1 for a finding at or above --fail-on that triage did not set aside (`result` holds the triage)."""
    if fail_on and (blocking_findings(result, fail_on) if result is not None else score.findings_at_or_above(fail_on)):
        raise typer.Exit(int(ExitCode.FAILED))
    _exit_over_refusal(score, over_refusal_limit)
    if score.inconclusive:
        raise typer.Exit(int(ExitCode.INCONCLUSIVE))


def _exit_over_refusal(score: ScanScore, limit: float | None) -> None:
    """The gate the user asked for with --fail-on-over-refusal: exit 1 above the limit, 4 when nothing was scored."""
    if limit is None:
        return
    rate = score.over_refusal.rate
    if rate is None:
        err_console.print(
            "[bold red]over-refusal not measured[/]: no benign prompt got a scored answer, so "
            "--fail-on-over-refusal cannot pass"
        )
        raise typer.Exit(int(ExitCode.INCONCLUSIVE))
    if rate > limit:
        raise typer.Exit(int(ExitCode.FAILED))
