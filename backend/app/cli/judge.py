"""`secureai judge`: measure a judge model before trusting its verdicts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.output import ExitCode, console, err_console, fail, print_json

app = typer.Typer(help="The LLM judge: calibrate it against labelled cases.", no_args_is_help=True)


def calibration_file() -> Path:
    """Where the CLI keeps the last calibration of each judge (in the data directory)."""
    from app.config import get_settings
    from app.engine.calibration import STORE_NAME

    return get_settings().data_dir / STORE_NAME


def latest_calibration(label: str) -> dict[str, Any] | None:
    """The last calibration recorded for the judge called `label`, as scans record it."""
    from app.engine.calibration import CalibrationStore

    return CalibrationStore(calibration_file()).latest(label)


def _figure(entry: dict[str, Any]) -> str:
    value = entry.get("value")
    low, high = entry.get("ci95", [0, 1])
    return "n/a" if value is None else f"{value:.3f} ({low:.3f}-{high:.3f})"


@app.command("calibrate")
def calibrate_command(
    judge: Annotated[str, typer.Option(help="The judge model: a target file or TYPE:MODEL\\[@BASE_URL].")],
    cases: Annotated[
        Path | None,
        typer.Option(help="A labelled set (JSON lines, docs/adaptive.md); default: the set SecureAI ships."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Grade only the first N cases (a quick look).")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Judge requests in flight at once.")] = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Record the result so scans with this judge cite it.")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Grade every labelled case with JUDGE and print how often it agrees with the human label: accuracy,
    false-positive and false-negative rates and Cohen's kappa, each with a 95 % interval, and accuracy per case
    kind. Replies that do not parse after one repair are judge errors, reported apart. Exit codes: 0 done,
    2 usage error, 3 judge unreachable."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from app.engine.calibration import DEFAULT_SET, CalibrationError, CalibrationStore, calibrate, load_cases
    from app.engine.targets import TargetConfigError, build_connector, load_target_config
    from app.engine.targets.errors import TargetAuthError, TargetUnreachableError

    source = cases or DEFAULT_SET
    try:
        config = load_target_config(judge, {"max_concurrency": concurrency})
        selected = load_cases(source)[:limit]
        connector = build_connector(config)
    except (TargetConfigError, CalibrationError) as error:
        fail(str(error), ExitCode.USAGE)
    progress = Progress(
        TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), console=err_console, disable=json_output
    )

    async def run() -> dict[str, Any]:
        try:
            with progress:
                task = progress.add_task("grade", total=len(selected))
                return await calibrate(
                    connector,
                    selected,
                    label=config.label,
                    source=source,
                    on_case=lambda case, answer: progress.advance(task),
                )
        finally:
            await connector.aclose()

    try:
        result = asyncio.run(run())
    except (TargetAuthError, TargetUnreachableError) as error:
        fail(f"judge {config.label}: {error}", ExitCode.UNREACHABLE)
    if save and result["graded"]:
        CalibrationStore(calibration_file()).save(result)
    if json_output:
        print_json(result)
        return
    console.print(f"judge {result['judge']}: {result['graded']} of {result['set']['cases']} cases graded")
    if result["errors"]:
        console.print(f"[yellow]{result['errors']} judge error(s)[/] (no parseable verdict; not counted)")
    for name in ("accuracy", "false_positive_rate", "false_negative_rate", "kappa"):
        console.print(f"  {name.replace('_', ' '):<20} {_figure(result[name])}")
    kinds = ", ".join(f"{kind} {_figure(entry)}" for kind, entry in result["by_kind"].items())
    console.print(f"  accuracy by kind: {kinds}")
    if save and result["graded"]:
        console.print(f"recorded in {calibration_file()}: scans using this judge will cite it")
