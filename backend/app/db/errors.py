"""Turn database driver errors into the one line an operator needs to read."""

from __future__ import annotations


def describe_db_error(error: BaseException) -> str:
    """The first line of the driver's message (psycopg and sqlite3 put the cause there), without SQL or traceback."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(error).__name__
