"""`secureai probes`: browse the probe packs, print their schema and check a user's own packs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from app.cli.output import ExitCode, console, err_console, fail, print_json
from app.cli.packs import PacksOption, activate_packs
from app.engine.probes.registry import ProbePackError, select
from app.engine.probes.user_packs import (
    PackProblem,
    PackValidationError,
    UserPack,
    merge_catalogue,
    pack_files,
    pack_json_schema,
    parse_pack_file,
)
from app.engine.scoring import SEVERITY_ORDER

app = typer.Typer(help="Browse the probe packs and check your own.", no_args_is_help=True)


@app.command("list")
def probes_list(
    ctx: typer.Context,
    selection: Annotated[str, typer.Option("--select", "-s", help="Selector, as for scan --probes.")] = "all",
    packs: PacksOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the probes, filtered by OWASP category, tag, severity, pack or id; --packs adds your own."""
    activate_packs(ctx, packs)
    try:
        chosen = select(selection)
    except (ProbePackError, ValueError) as error:
        fail(str(error), ExitCode.USAGE)
    if json_output:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": p.id,
                        "owasp": p.owasp,
                        "severity": p.severity,
                        "kind": p.kind,
                        "title": p.title,
                        "pack": p.pack,
                        "tags": list(p.tags),
                        "attempts": len(p.attempts),
                        "needs_judge": p.needs_judge,
                    }
                    for p in chosen
                ],
                indent=2,
            )
        )
        return
    table = Table(title=f"{len(chosen)} probes")
    table.add_column("id", overflow="fold")  # ids are what --probes takes: never cut
    for column in ("OWASP", "severity", "pack", "title", "prompts"):
        table.add_column(column)
    for probe in sorted(chosen, key=lambda p: (p.owasp, -SEVERITY_ORDER.index(p.severity), p.id)):
        table.add_row(probe.id, probe.owasp, probe.severity, probe.pack, probe.title, str(len(probe.attempts)))
    console.print(table)


@app.command("schema")
def probes_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of a probe pack (what docs/probe-packs.md describes), for editors and CI checks."""
    text = json.dumps(pack_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}", ExitCode.USAGE)
    err_console.print(f"wrote {escape(str(output))}", highlight=False, soft_wrap=True)


def _files(path: Path) -> tuple[list[Path], list[PackProblem]]:
    if path.is_dir():
        files = pack_files(path)
        return files, [] if files else [PackProblem(str(path), None, "", "holds no probe pack (*.yaml, *.yml)")]
    if path.is_file():
        return [path], []
    return [], [PackProblem(str(path), None, "", "no such file or directory")]


def _summary(pack: UserPack) -> dict[str, object]:
    return {
        **pack.record(),
        "probes": len(pack.probes),
        "attempts": sum(len(probe.attempts) for probe in pack.probes),
        "judge_decided": sum(probe.needs_judge for probe in pack.probes),
    }


@app.command("validate")
def probes_validate(
    paths: Annotated[list[Path], typer.Argument(help="Pack files, or directories of them.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the packs and problems as JSON.")] = False,
) -> None:
    """Check your own probe packs against the schema and against the shipped packs (names and probe ids must
    not clash). Each problem is printed as file:line: field: message. Exit codes: 0 valid, 1 problems found."""
    problems: list[PackProblem] = []
    packs: list[UserPack] = []
    for path in paths:
        files, missing = _files(path)
        problems += missing
        for file in files:
            try:
                packs.append(parse_pack_file(file))
            except PackValidationError as error:
                problems += error.problems
    try:
        merge_catalogue(packs)
    except PackValidationError as error:
        problems += error.problems
    if json_output:
        print_json(
            {"valid": not problems, "packs": [_summary(pack) for pack in packs], "problems": problems_json(problems)}
        )
    else:
        for problem in problems:
            typer.echo(str(problem))
        for pack in packs:
            summary = _summary(pack)
            judged = f", {summary['judge_decided']} judge-decided" if summary["judge_decided"] else ""
            err_console.print(
                f"{escape(pack.source)}: pack {pack.pack!r} version {pack.version}: {summary['probes']} probes, "
                f"{summary['attempts']} attempts{judged}",
                highlight=False,
                soft_wrap=True,
            )
        verdict = f"{len(problems)} problem(s)" if problems else "valid"
        err_console.print(f"{verdict} in {len(paths)} path(s)", highlight=False)
    if problems:
        raise typer.Exit(int(ExitCode.FAILED))


def problems_json(problems: Sequence[PackProblem]) -> list[dict[str, object]]:
    """Problems as ``{file, line, field, message}`` objects, for ``--json`` output."""
    return [problem.as_dict() for problem in problems]


# `secureai probes import` and `secureai probes generate` live in their own module (docs/probe-datasets.md).
from app.cli import probes_authoring  # noqa: E402 - registers its commands on `app`, defined above

probes_authoring.register(app)
