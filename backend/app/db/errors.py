"""Turn database driver errors into the one line an operator needs to read."""

from __future__ import annotations

from alembic.util.exc import CommandError


def describe_db_error(error: BaseException) -> str:
    """The first line of the driver's message (psycopg and sqlite3 put the cause there), without SQL or traceback."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class MigrationPreconditionError(CommandError):
    """A migration cannot run as things are (e.g. no SECUREAI_SECRET_KEY to seal legacy credentials with).

    Raised before the migration changes anything; the message says what to do. An Alembic CommandError, so
    the `alembic` command prints it as one `FAILED:` line instead of a traceback.
    """


#: The first words of the errors SQLite and PostgreSQL give when a query meets a schema it was not written for.
_SCHEMA_MESSAGES = ("no such column", "no such table")
#: PostgreSQL's SQLSTATE for undefined table, column, function and object.
_SCHEMA_SQLSTATES = {"42P01", "42703", "42883", "42704"}


def is_schema_error(error: BaseException) -> bool:
    """True when the database answered but its tables or columns are not what the query expected (a database
    behind or ahead of this release), as opposed to a database that could not be reached."""
    cause = getattr(error, "orig", None) or error
    if getattr(cause, "sqlstate", None) in _SCHEMA_SQLSTATES:
        return True
    first = describe_db_error(error)
    return first.startswith(_SCHEMA_MESSAGES) or "has no column named" in first


def explain_db_error(error: BaseException) -> str:
    """One line for a database error of a reachable database; schema errors say how to find out more."""
    cause = describe_db_error(error)
    if is_schema_error(error):
        return f"{cause} (the database schema does not match this release; run `secureai db doctor`)"
    return cause
