"""`secureai probes`: browse the probe packs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from app.cli.output import ExitCode, console, fail
from app.engine.probes.registry import ProbePackError, select
from app.engine.scoring import SEVERITY_ORDER

app = typer.Typer(help="Browse the probe packs.", no_args_is_help=True)


@app.command("list")
def probes_list(
    selection: Annotated[str, typer.Option("--select", "-s", help="Selector, as for scan --probes.")] = "all",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the probes, filtered by OWASP category, tag, severity, pack or id."""
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
                        "title": p.title,
                        "pack": p.pack,
                        "tags": list(p.tags),
                        "attempts": len(p.attempts),
                    }
                    for p in chosen
                ],
                indent=2,
            )
        )
        return
    table = Table("id", "OWASP", "severity", "title", "prompts", title=f"{len(chosen)} probes")
    for probe in sorted(chosen, key=lambda p: (p.owasp, -SEVERITY_ORDER.index(p.severity), p.id)):
        table.add_row(probe.id, probe.owasp, probe.severity, probe.title, str(len(probe.attempts)))
    console.print(table)
