"""The demo commands: `secureai demo` (the README's main job), `demo-target` (the vulnerable simulator) and
`demo-model` (Gemma 3 270M, a real small LLM)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from app.cli.output import ExitCode, fail
from app.config import MissingSecretKeyError, get_settings


def demo_target(
    mode: Annotated[
        str,
        typer.Option(
            help="vulnerable, refusing, base64 or flaky; for adaptive attacks guarded or filtered (targets), "
            "attacker or judge (rule-based stand-ins for those roles)."
        ),
    ] = "vulnerable",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8900,
    latency: Annotated[float, typer.Option(min=0, help="Seconds to wait before each answer.")] = 0.0,
) -> None:
    """Serve the deliberately vulnerable LLM-app SIMULATOR (not a model) on an OpenAI-compatible API."""
    import uvicorn

    from app.demo.simulator import MODES, create_app

    if mode not in MODES:
        fail(f"--mode must be one of {', '.join(MODES)}", ExitCode.USAGE)
    typer.echo(f"SecureAI simulator ({mode}) at http://{host}:{port}/v1 - a deliberately vulnerable fake, not a model")
    uvicorn.run(create_app(mode, latency_s=latency), host=host, port=port, log_level="warning")


def demo(
    host: Annotated[str, typer.Option(help="Interface for the server (API and dashboard).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Server port (API and dashboard).")] = 8000,
    target_port: Annotated[int, typer.Option(help="Port of the vulnerable simulator it scans.")] = 8900,
    keep_serving: Annotated[
        bool, typer.Option("--keep-serving/--exit", help="Keep the server up after the scan (Ctrl-C stops it).")
    ] = True,
) -> None:
    """The main job end to end: migrate SQLite, create the demo admin, start the vulnerable SIMULATOR, its
    rule-based judge double and the server, scan the simulator through the API (the harmful-content pack graded
    by the judge double, then the OWASP probes), save the HTML and PDF reports, print the findings, the
    dashboard's address and where to look next, and keep serving the dashboard."""
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.table import Table

    from app.cli.output import console
    from app.demo.platform_demo import DEMO_ADMIN, DEMO_SCANS, BackgroundServer, prepare, run_demo_scan
    from app.demo.simulator import create_app as create_simulator

    settings = get_settings()
    try:
        settings.require_secret_key()
    except MissingSecretKeyError as error:
        fail(f"{error} (or run `make demo`, which sets SECUREAI_DEMO=1)", ExitCode.USAGE)
    console.print(f"database: {settings.effective_database_url}")
    password_file = prepare(settings)
    from app.main import create_app as create_api

    api_url = f"http://{host}:{port}"
    try:
        with (
            BackgroundServer(create_simulator("vulnerable"), "127.0.0.1", target_port),
            BackgroundServer(create_simulator("judge"), "127.0.0.1", 0) as judge,
            BackgroundServer(create_api(), host, port),
        ):
            console.print(
                f"simulator (a deliberately vulnerable fake LLM app, not a model): http://127.0.0.1:{target_port}/v1",
                soft_wrap=True,
            )
            judge_url = f"http://127.0.0.1:{judge.port}/v1"
            console.print(f"judge double (rules, not a model): {judge_url}", soft_wrap=True)
            with Progress(TextColumn("scanning the simulator through the API"), BarColumn(), console=console) as bar:
                task = bar.add_task("scan", total=100 * len(DEMO_SCANS))
                titles = [title for title, *_ in DEMO_SCANS]
                result = run_demo_scan(
                    api_url,
                    f"http://127.0.0.1:{target_port}/v1",
                    judge_url,
                    password_file,
                    settings.data_dir / "reports",
                    lambda title, done: bar.update(task, completed=100 * titles.index(title) + done),
                )
            for demo_scan in result.scans:
                scan = demo_scan.scan
                table = Table(
                    "probe",
                    "OWASP",
                    "severity",
                    "ASR",
                    "attempts",
                    title=f"Findings of scan {scan['id']} ({demo_scan.title})",
                )
                for finding in sorted(demo_scan.findings, key=lambda f: (f["owasp"] or "", f["probe_id"] or "")):
                    table.add_row(
                        finding["probe_id"],
                        finding["owasp"],
                        finding["severity"],
                        f"{finding['asr']:.0%}",
                        str(finding["attempts"]),
                    )
                console.print(table)
                summary = scan["summary"] or {}
                console.print(
                    f"scan {scan['id']} {scan['status']}: {summary.get('attempts', 0)} attempts, "
                    f"{scan['vulnerability_count']} findings, risk score {scan['risk_score']}/100"
                )
            lines = [f"dashboard: {api_url}/ (sign in as {DEMO_ADMIN!r} with the password in {result.password_file})"]
            for demo_scan in result.scans:
                scan_id = demo_scan.scan["id"]
                lines += [
                    f"this scan in the dashboard: {api_url}/scans/{scan_id} ({demo_scan.title})",
                    f"API: {api_url}/api/v1 (docs: {api_url}/docs); this scan: .../api/v1/scans/{scan_id}",
                    *(f"report: {path.resolve().as_uri()}" for path in demo_scan.reports),
                ]
            for line in lines:
                console.print(line, highlight=False, soft_wrap=True)
            if keep_serving:
                console.print("serving; Ctrl-C to stop")
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopped")
    except RuntimeError as error:
        fail(str(error), ExitCode.UNREACHABLE)


def demo_model(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8901,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for inference.")] = 2,
    chat_format: Annotated[
        str,
        typer.Option(
            help="How a conversation is written for the model: `dialogue` (a plain-text transcript, what the "
            "packaged pretrained Gemma continues) or `gemma` (Gemma's turn markers, system text folded into the "
            "first user turn; for an instruction-tuned Gemma). See docs/local-model.md."
        ),
    ] = "dialogue",
    check: Annotated[
        bool, typer.Option(help="At start-up, ask the model an instruction and stop if it echoes or is silent.")
    ] = True,
) -> None:
    """Serve Gemma 3 270M (a real, small LLM) on an OpenAI-compatible API; needs the local-model extra."""
    from app.demo.local_model import (
        CHAT_FORMATS,
        MODEL_ALIAS,
        LocalModelCheckError,
        LocalModelUnavailableError,
        client_url,
        model_path,
        run_server,
        server_command,
    )

    if chat_format not in CHAT_FORMATS:
        fail(f"unknown --chat-format {chat_format!r}; choose one of: {', '.join(CHAT_FORMATS)}", ExitCode.USAGE)
    try:
        gguf = model_path(get_settings().data_dir)
    except LocalModelUnavailableError as error:
        fail(str(error), ExitCode.USAGE)
    url = client_url(host, port)
    typer.echo(f"Gemma 3 270M ({gguf.name}, chat format {chat_format}) at {url} as model {MODEL_ALIAS!r}")
    command = server_command(gguf, host, port, threads=threads, chat_format=chat_format)
    try:
        code = run_server(command, url, lambda line: typer.echo(line), check=check)
    except LocalModelCheckError as error:
        fail(str(error), ExitCode.FAILED)
    raise typer.Exit(code)
