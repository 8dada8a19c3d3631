"""The `secureai` command.

Every sub-command lives in its own module and is imported only when it runs: `secureai --version` and
`secureai --help` load none of them (no SQLAlchemy, no engine, no Rich), and `secureai scan` loads the scanner but
not the database, the server or the report renderers. `COMMANDS` is the one place a sub-command is registered; the
line `secureai --help` shows for it is written there too, and a test checks its words still come from the
command's own help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group

from app import __version__


@dataclass(frozen=True)
class Lazy:
    """A sub-command that is imported when it runs."""

    module: str
    #: a `typer.Typer` (a group of commands, e.g. `secureai db ...`) or a function (one command)
    attribute: str
    #: what `secureai --help` shows without importing the module: the start of the command's own help
    summary: str


COMMANDS: dict[str, Lazy] = {
    "scan": Lazy("app.cli.scan", "scan", "Attack TARGET with the selected probes"),
    "report": Lazy("app.cli.report", "report", "Render one scan for people, CI, spreadsheets or tools"),
    "rescore": Lazy("app.cli.rescore", "rescore_command", "Re-apply the current detectors to every recorded answer"),
    "worker": Lazy("app.cli.worker", "worker", "Take scans off the queue and run them"),
    "serve": Lazy("app.cli.serve", "serve", "Run the server: the dashboard at /, the API at /api/v1"),
    "start": Lazy("app.cli.start", "start", "Start the server as a deployment does"),
    "demo": Lazy("app.cli.demo", "demo", "The main job end to end"),
    "demo-target": Lazy("app.cli.demo", "demo_target", "Serve the deliberately vulnerable LLM-app SIMULATOR"),
    "demo-model": Lazy("app.cli.demo", "demo_model", "Serve Gemma 3 270M (a real, small LLM)"),
    "db": Lazy("app.cli.db", "app", "Migrate, inspect, back up and diagnose the SecureAI database"),
    "probes": Lazy("app.cli.probes", "app", "Browse the probe packs and check your own"),
    "strategies": Lazy("app.cli.strategies", "app", "Browse the attack strategies"),
    "target": Lazy("app.cli.targets", "app", "Check targets before scanning them"),
    "import": Lazy("app.cli.imports", "app", "Import results of other tools"),
    "mcp": Lazy("app.cli.mcp", "app", "Scan MCP servers' tools, prompts and resources"),
    "compliance": Lazy("app.cli.compliance", "app", "Compliance frameworks, coverage gaps and per-scan assessment"),
    "secrets": Lazy("app.cli.secrets", "app", "Make a secret key; operate on sealed credentials"),
    "audit": Lazy("app.cli.audit", "app", "Check the hash-chained audit log"),
    "users": Lazy("app.cli.users", "app", "Create and manage user accounts"),
    "judge": Lazy("app.cli.judge", "app", "The LLM judge: calibrate it against labelled cases"),
    "triage": Lazy("app.cli.triage", "app", "Carry triage decisions to CI"),
}


def load(name: str) -> Any:
    """The click command behind sub-command NAME, importing its module."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = get_group(target)  # a group even when it holds one command (`secureai strategies list`)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """Resolves a sub-command by importing its module; lists them from `COMMANDS` without importing any."""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self.listing:  # `secureai --help`: the registry's line is enough
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].summary + ".")
        return load(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="secureai",
    cls=LazyGroup,
    help="SecureAI: test the security of LLM applications. Settings come from the environment or .env "
    "(see docs/configuration.md). `secureai COMMAND --help` explains each command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help for the list of commands: Rich alone would take longer to load than the rest of
    # `secureai --help`; each command's own help is still drawn by Rich
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"secureai {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """SecureAI command line."""


if __name__ == "__main__":  # pragma: no cover
    app()
