"""Turn database driver errors into the one line an operator needs to read."""

from __future__ import annotations


def describe_db_error(error: BaseException) -> str:
    """The first line of the driver's message (psycopg and sqlite3 put the cause there), without SQL or traceback."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class MigrationPreconditionError(RuntimeError):
    """A migration cannot run as things are (e.g. no SECUREAI_SECRET_KEY to seal legacy credentials with).

    Raised before the migration changes anything; the message says what to do.
    """
