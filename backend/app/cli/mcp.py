"""`secureai mcp`: scan MCP servers' tools, prompts and resources (docs/mcp.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from app.cli.output import ExitCode, console, err_console, fail
from app.cli.scan import Severity

app = typer.Typer(help="Scan MCP servers' tools, prompts and resources.", no_args_is_help=True)


@app.command("scan")
def scan(
    servers: Annotated[
        list[str],
        typer.Option(
            "--server",
            "-s",
            help="An MCP server: a URL (streamable HTTP, e.g. http://127.0.0.1:8000/mcp) or a command that starts "
            "one over stdio (quoted: 'python -m my_server'). Repeat for several servers (tool shadowing is "
            "checked across them).",
        ),
    ],
    listings: Annotated[
        int, typer.Option(min=2, max=10, help="Times each server is listed; a change between them is a rug pull.")
    ] = 2,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each answer of a server.")] = 30.0,
    header: Annotated[
        list[str] | None,
        typer.Option(
            help="'Name: value' header for URL servers; ${NAME} in the value is read from the environment (keep "
            "tokens off the command line)."
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(help="Environment variable passed to stdio servers (they get only a minimal environment)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the scan result (JSON) here; `secureai report FILE` renders it."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the scan result document as JSON.")] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="An earlier result of this command (--out): each server it lists is held to the listing recorded "
            "there, so a description changed since then is a rug pull.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    fail_on: Annotated[Severity | None, typer.Option(help="Exit 1 if a finding at least this severe is found.")] = None,
) -> None:
    """Connect to MCP servers over stdio or streamable HTTP, list their tools, prompts and resources, and check
    them for hidden instructions (tool poisoning), invisible characters, shadowing of other servers' tools,
    over-broad argument schemas and descriptions that change between listings (rug pull).

    Findings are a scan result like `secureai scan`'s: --out FILE writes it, `secureai report FILE -f sarif`
    (or html, pdf, junit, csv, md) renders it. Exit 0 clean, 1 with findings at --fail-on, 2 on usage errors,
    3 when a server cannot be started or reached."""
    from app.engine.mcp.client import McpScanError, fill_env, load_sdk
    from app.engine.mcp.scan import baseline_of, scan_servers

    headers = _headers(header or [])
    try:
        load_sdk()
        filled = {name: fill_env(value) for name, value in headers.items()}
    except McpScanError as error:
        fail(str(error), ExitCode.USAGE)
    passed = {name: value for name in env or [] if (value := _env_value(name)) is not None}
    if len(set(servers)) != len(servers):
        fail("the same --server is given twice", ExitCode.USAGE)
    approved = None
    if baseline is not None:
        try:
            approved = baseline_of(json.loads(baseline.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError) as error:
            fail(f"--baseline {baseline}: {error}", ExitCode.USAGE)
        unknown = [spec for spec in servers if spec not in approved]
        if unknown:
            fail(f"--baseline {baseline} has no listing of {unknown[0]}", ExitCode.USAGE)

    def progress(message: str) -> None:
        err_console.print(escape(message), highlight=False)

    try:
        document = asyncio.run(
            scan_servers(
                servers,
                listings=listings,
                timeout_s=timeout,
                headers=filled,
                env=passed,
                progress=progress,
                baseline=approved,
            )
        )
    except McpScanError as error:
        fail(str(error), ExitCode.UNREACHABLE)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        err_console.print(f"wrote {out}", highlight=False)
    if json_output:
        typer.echo(json.dumps(document, indent=2, default=str))
    else:
        _print_table(document)
    if fail_on is not None:
        from app.engine.scoring import SEVERITY_ORDER

        floor = SEVERITY_ORDER.index(fail_on)
        blocking = [item for item in document["findings"] if SEVERITY_ORDER.index(item["severity"]) >= floor]
        if blocking:
            err_console.print(f"{len(blocking)} finding(s) at or above {fail_on}: fails --fail-on {fail_on}")
            raise typer.Exit(int(ExitCode.FAILED))


def _headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            fail(f"--header takes 'Name: value', not {name.strip()[:40]!r}...", ExitCode.USAGE)
        headers[name.strip()] = content.strip()
    return headers


def _env_value(name: str) -> str | None:
    import os

    value = os.environ.get(name)
    if value is None:
        fail(f"--env {name}: the variable is not set", ExitCode.USAGE)
    return value


def _print_table(document: dict[str, Any]) -> None:
    for server in document["mcp"]["servers"]:
        console.print(
            f"{server['label']} ({server['transport']}): {server['tools']} tools, {server['prompts']} prompts, "
            f"{server['resources']} resources",
            highlight=False,
            markup=False,
        )
    findings = document["findings"]
    if not findings:
        console.print("no findings", highlight=False)
        return
    for finding in findings:
        console.print(
            f"{finding['severity']:>8} {finding['probe_id']} ({finding['owasp']}): {finding['title']}, "
            f"{finding['counts']['vulnerable']} of {finding['attempts']} items",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for evidence in finding["evidence"]:
            for detector in evidence["detectors"]:
                console.print(
                    f"         {evidence['prompt']}: {detector['matched']} ({detector['explanation']})",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
