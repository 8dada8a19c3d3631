"""`secureai target`: check a target before scanning it."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from app.cli.output import ExitCode, console, fail
from app.engine.targets import TargetConfigError, build_connector, load_target_config

app = typer.Typer(help="Check targets before scanning them.", no_args_is_help=True)


@app.command("test")
def target_test(
    target: Annotated[str, typer.Argument(help="Target file (.yaml/.json) or TYPE:MODEL\\[@BASE_URL].")],
    model: Annotated[str | None, typer.Option(help="Model name (overrides the target's).")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable holding the API key.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a target before scanning: reachable, credentials, model, latency, rate limits, conversation state.
    Exit 0 when all is ok, 1 on warnings, 3 when the target cannot be used."""
    from app.engine.target_doctor import diagnose_target

    try:
        config = load_target_config(target, {"model": model, "api_key_env": api_key_env, "max_retries": 1})
        connector = build_connector(config)
    except TargetConfigError as error:
        fail(str(error), ExitCode.USAGE)

    async def run() -> list[Any]:
        try:
            return await diagnose_target(connector)
        finally:
            await connector.aclose()

    try:
        checks = asyncio.run(run())
    except TargetConfigError as error:
        fail(str(error), ExitCode.USAGE)
    if json_output:
        typer.echo(json.dumps({"target": config.label, "checks": [check.as_dict() for check in checks]}, indent=2))
    else:
        colour = {"ok": "green", "warning": "yellow", "error": "red"}
        for check in checks:
            console.print(f"[{colour[check.level]}]{check.level:>7}[/] {check.name}: {check.message}", highlight=False)
            if check.fix:
                console.print(f"          fix: [bold]{check.fix}[/]", highlight=False)
    if any(check.level == "error" for check in checks):
        raise typer.Exit(int(ExitCode.UNREACHABLE))
    if any(check.level == "warning" for check in checks):
        raise typer.Exit(int(ExitCode.FAILED))
