"""`--packs`: the user's own probe packs, shared by `scan`, `report`, `rescore` and `probes`.

Kept apart from `app.cli.probes` so that the commands taking `--packs` do not load the probe authoring tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from app.cli.output import ExitCode, err_console
from app.engine.probes.registry import ProbePackError
from app.engine.probes.user_packs import PackValidationError, UserPack, load_pack_dirs, using_packs

PacksOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--packs",
        help="A directory of your own probe packs (*.yaml, *.yml), repeatable; see docs/probe-packs.md.",
    ),
]


def fail_packs(error: ProbePackError, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    """Every problem on a line of its own (file:line: field: message), then exit with ``code``."""
    problems = error.problems if isinstance(error, PackValidationError) else ()
    for line in [str(problem) for problem in problems] or [str(error)]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise SystemExit(int(code))


def activate_packs(ctx: typer.Context, dirs: Sequence[Path] | None) -> list[UserPack]:
    """Load ``--packs`` directories and add their probes to the catalogue until the command (``ctx``) ends.

    Any problem in them (or a clash with a shipped pack) is a usage error listing every problem.
    """
    if not dirs:
        return []
    try:
        packs = load_pack_dirs(dirs)
        ctx.with_resource(using_packs(packs))
    except ProbePackError as error:
        fail_packs(error)
    return packs
