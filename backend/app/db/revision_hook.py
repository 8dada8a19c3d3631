"""Alembic post-write hook: `python -m app.db.revision_hook FILE` lints and formats a new revision with ruff.

alembic.ini runs it for every `alembic revision` (hook type `module`, so with the interpreter alembic runs
on). ruff is looked for beside that interpreter first, which is the virtualenv alembic came from whatever it
is called (`venv`, `.venv`, a pipx or system install), then on PATH; so the hook works when alembic is started
as `.venv/bin/alembic` without activating anything. `ruff check --fix` removes the imports a revision does not
use and sorts the rest, then `ruff format` formats it, with the project's settings (found from the file's
location), so the file passes `ruff check` and `ruff format --check` as generated.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def find_ruff() -> str | None:
    """The ruff executable beside this interpreter, else the one on PATH, else None."""
    return shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m app.db.revision_hook REVISION_FILE", file=sys.stderr)
        return 2
    ruff = find_ruff()
    if ruff is None:
        print(
            f"ruff not found beside {sys.executable} nor on PATH: {argv[0]} was left unformatted "
            "(install the dev dependencies: make setup)",
            file=sys.stderr,
        )
        return 1
    path = argv[0]
    fixed = subprocess.run([ruff, "check", "--fix", "--quiet", "--exit-zero", path], check=False)
    formatted = subprocess.run([ruff, "format", "--quiet", path], check=False)
    return fixed.returncode or formatted.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
