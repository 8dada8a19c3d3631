"""Shared CLI output: Rich for people, `--json` for scripts, one-line errors with documented exit codes."""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

console = Console(emoji=False)  # target labels such as "openai:x@..." are data, not emoji codes
err_console = Console(stderr=True, emoji=False)


class ExitCode(IntEnum):
    """Exit codes of `secureai`, listed in docs/cli.md."""

    OK = 0
    FAILED = 1  # the command ran and found a problem (drift, a failed check, a failed backup)
    USAGE = 2  # bad arguments or configuration (Typer also uses 2 for usage errors)
    UNREACHABLE = 3  # the database (or a target) could not be reached, or the target refused the credentials
    INCONCLUSIVE = 4  # a scan had too many errors to say anything about the target


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else mixed in."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> NoReturn:
    """Print a one-line error and exit with `code` (no traceback for an operator's mistake)."""
    # the message is plain text: brackets in it (`secureai[local-model]`, a JSONPath) are not Rich markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(int(code))
