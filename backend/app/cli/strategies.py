"""`secureai strategies`: the attack transforms a scan can stack on any probe."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from app.cli.output import console
from app.engine.strategies import available_strategies

app = typer.Typer(help="Browse the attack strategies (prompt transforms) for scan --strategies.", no_args_is_help=True)


@app.command("list")
def strategies_list(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every strategy by name; compose them with `+` (e.g. leetspeak+roleplay) in scan --strategies."""
    rows = available_strategies()
    if json_output:
        typer.echo(json.dumps([{"name": name, "description": text} for name, text in rows], indent=2))
        return
    table = Table("name", "what it does to the prompt", title=f"{len(rows)} strategies")
    for name, text in rows:
        table.add_row(name, text)
    console.print(table)
