"""`secureai strategies`: the attack transforms a scan can stack on any probe."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.output import console
from app.engine.strategies import available_strategies

app = typer.Typer(help="Browse the attack strategies (prompt transforms) for scan --strategies.", no_args_is_help=True)


@app.command("list")
def strategies_list(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every strategy by name; compose them with `+` (e.g. leetspeak+roleplay) in scan --strategies.
    Adaptive strategies (pair, tap, crescendo, best_of_n) go first in a stack and take --attack-option values;
    pair, tap and crescendo need --attacker (docs/adaptive.md)."""
    from app.engine.attacks import ADAPTIVE

    rows: list[dict[str, Any]] = []
    for name, text in available_strategies():
        adaptive = ADAPTIVE.get(name)
        rows.append(
            {
                "name": name,
                "description": text,
                "adaptive": adaptive is not None,
                "needs_attacker": bool(adaptive and adaptive.needs_attacker),
                "parameters": {
                    param: {"default": spec.default, "min": spec.low, "max": spec.high, "help": spec.help}
                    for param, spec in (adaptive.params.items() if adaptive else ())
                },
            }
        )
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "what it does", "needs", "parameters (--attack-option)", title=f"{len(rows)} strategies")
    for row in rows:
        params = ", ".join(f"{row['name']}.{p}={spec['default']}" for p, spec in row["parameters"].items())
        table.add_row(row["name"], row["description"], "attacker" if row["needs_attacker"] else "", params)
    console.print(table)
