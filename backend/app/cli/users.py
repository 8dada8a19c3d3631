"""`secureai users`: create and manage accounts from the server's shell, with or without a running server.

Passwords come from standard input (`--password-stdin`) or from two hidden prompts, never from an argument:
arguments end up in shell history and in `ps` output for every other user of the machine to read.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from app.audit.log import record
from app.auth import service
from app.cli.database import database_session
from app.cli.output import ExitCode, console, fail, print_json
from app.db.enums import UserRole
from app.db.models import User

app = typer.Typer(
    help="Create and manage user accounts. First run: `secureai users bootstrap-admin --email you@example.com`.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of standard input, don't prompt."),
]
UsernameArgument = Annotated[str, typer.Argument(help="The user's login name.")]
REQUIRED_TABLES = ("users", "refresh_tokens", "api_tokens", "login_throttles")
_USAGE_ERRORS = (service.InvalidInputError, service.PasswordPolicyError)


@contextmanager
def _session() -> Iterator[Session]:
    """A session on the configured database, committed at the end, also after a refusal (see app.auth.service).

    Database trouble and refusals become one-line errors with the documented exit codes.
    """
    with database_session(REQUIRED_TABLES) as session:
        try:
            yield session
        except service.AuthError as error:
            session.commit()
            fail(str(error), ExitCode.USAGE if isinstance(error, _USAGE_ERRORS) else ExitCode.FAILED)


def _read_password(from_stdin: bool) -> str:
    """The new password, from stdin's first line or two hidden prompts that must agree."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("--password-stdin was given but standard input holds no password", ExitCode.USAGE)
        return password
    try:
        first: str = typer.prompt("Password", hide_input=True)
        second: str = typer.prompt("Repeat the password", hide_input=True)
    except typer.Abort:  # end of input, or Ctrl-C / Ctrl-D at the prompt
        fail("no password was entered (to pipe one in, use --password-stdin)", ExitCode.USAGE)
    if first != second:
        fail("the two passwords differ; nothing was changed", ExitCode.USAGE)
    return first


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _user_json(user: User) -> dict[str, Any]:
    """What `--json` shows of a user: never the password hash."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role.value,
        "active": user.is_active is not False,
        "created_at": _when(user.created_at),
        "last_login_at": _when(user.last_login_at),
        "password_changed_at": _when(user.password_changed_at),
    }


def os_user() -> str:
    """The operating-system account running the command (the actor of a CLI change)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _audit(session: Session, action: str, user: User, details: dict[str, Any] | None = None) -> None:
    """Record a change made from the command line; the actor is the operating-system account that ran it."""
    record(
        session,
        action,
        resource_type="user",
        resource_id=user.id,
        details={"username": user.username, "via": "cli", "os_user": os_user(), **(details or {})},
        user_agent="secureai-cli",
    )


@app.command()
def create(
    username: UsernameArgument,
    email: Annotated[str, typer.Option("--email", help="E-mail address (unique).")],
    role: Annotated[UserRole, typer.Option("--role", help="What the user may do (docs/auth.md).")] = UserRole.VIEWER,
    full_name: Annotated[str | None, typer.Option("--full-name", help="Display name.")] = None,
    password_stdin: PasswordStdinOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create a user. The password is prompted for twice (hidden) unless --password-stdin."""
    password = _read_password(password_stdin)
    with _session() as session:
        user = service.create_user(session, username, email, password, role, full_name=full_name)
        _audit(session, "user_create", user, {"role": user.role.value})
        shown = _user_json(user)
    if json_output:
        print_json(shown)
    else:
        console.print(escape(f"created user {user.username!r} ({user.role.value})"), highlight=False)


@app.command("list")
def list_users(json_output: JsonOption = False) -> None:
    """List the users."""
    with _session() as session:
        users = [_user_json(user) for user in service.list_users(session)]
    if json_output:
        print_json(users)
        return
    table = Table("id", "username", "email", "role", "active", "last login")
    for user in users:
        active = "yes" if user["active"] else "[red]disabled[/]"
        cells = (user["username"], user["email"], user["role"])
        table.add_row(str(user["id"]), *(escape(cell) for cell in cells), active, user["last_login_at"] or "never")
    console.print(table)


@app.command("set-role")
def set_role(
    username: UsernameArgument,
    role: Annotated[UserRole, typer.Argument(help="The new role.")],
    json_output: JsonOption = False,
) -> None:
    """Change a user's role: their sessions end and their API tokens are lowered to what the new role allows
    (for good). The last active admin cannot be demoted."""
    with _session() as session:
        change = service.set_role(session, service.get_user(session, username), role)
        _audit(session, "user_update", change.user, {"role": [change.old_role.value, change.new_role.value]})
    if json_output:
        print_json({"username": username, "old_role": change.old_role.value, "new_role": change.new_role.value})
    else:
        console.print(escape(f"{username!r}: {change.old_role.value} -> {change.new_role.value}"), highlight=False)


@app.command()
def disable(username: UsernameArgument, json_output: JsonOption = False) -> None:
    """Disable a user: no login, and all their sessions and API tokens are revoked."""
    with _session() as session:
        result = service.disable(session, service.get_user(session, username))
        _audit(session, "user_update", result.user, {"disabled": {"api_tokens_revoked": result.api_tokens_revoked}})
    if json_output:
        print_json(
            {
                "username": username,
                "was_active": result.was_active,
                "refresh_tokens_revoked": result.refresh_tokens_revoked,
                "api_tokens_revoked": result.api_tokens_revoked,
            }
        )
    else:
        console.print(
            escape(
                f"disabled {username!r}; revoked {result.refresh_tokens_revoked} session token(s) "
                f"and {result.api_tokens_revoked} API token(s)"
            ),
            highlight=False,
        )


@app.command()
def enable(username: UsernameArgument, json_output: JsonOption = False) -> None:
    """Re-enable a disabled user and lift any login lockout (their old tokens stay revoked)."""
    with _session() as session:
        user = service.get_user(session, username)
        was_disabled = service.enable(session, user)
        if was_disabled:
            _audit(session, "user_update", user, {"enabled": True})
    if json_output:
        print_json({"username": username, "was_disabled": was_disabled})
    else:
        message = f"enabled {username!r}" if was_disabled else f"{username!r} was already enabled"
        console.print(escape(message), highlight=False)


@app.command("reset-password")
def reset_password(
    username: UsernameArgument, password_stdin: PasswordStdinOption = False, json_output: JsonOption = False
) -> None:
    """Set a new password for a user; ends all their sessions and lifts any lockout."""
    with _session() as session:
        user = service.get_user(session, username)  # before the prompt: no typing a password for a typo
        result = service.reset_password(session, user, _read_password(password_stdin))
        _audit(session, "user_password_reset", user, {"sessions_revoked": result.sessions_revoked})
    if json_output:
        print_json({"username": username, "sessions_revoked": result.sessions_revoked})
    else:
        console.print(
            escape(f"password of {username!r} changed; {result.sessions_revoked} session(s) ended"), highlight=False
        )


@app.command("tokens")
def tokens(username: UsernameArgument, json_output: JsonOption = False) -> None:
    """List a user's API tokens (names, public prefixes, roles, dates; the secrets are never stored)."""
    with _session() as session:
        listed: list[dict[str, Any]] = [
            {
                "id": token.id,
                "name": token.name,
                "prefix": token.prefix,
                "role": token.role.value,
                "created_at": _when(token.created_at),
                "expires_at": _when(token.expires_at),
                "last_used_at": _when(token.last_used_at),
                "revoked_at": _when(token.revoked_at),
            }
            for token in service.list_api_tokens(session, service.get_user(session, username))
        ]
    if json_output:
        print_json(listed)
        return
    table = Table("id", "name", "prefix", "role", "created", "expires", "last used", "state")
    for entry in listed:
        state = "[red]revoked[/]" if entry["revoked_at"] else "active"
        table.add_row(
            str(entry["id"]),
            escape(entry["name"]),
            f"sai_{entry['prefix']}_…",
            entry["role"],
            entry["created_at"] or "",
            entry["expires_at"] or "never",
            entry["last_used_at"] or "never",
            state,
        )
    console.print(table)


@app.command("revoke-token")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's id (`secureai users tokens NAME`).", min=1)],
    json_output: JsonOption = False,
) -> None:
    """Revoke any user's API token at once; revoking it again changes nothing."""
    with _session() as session:
        token = service.revoke_api_token(session, token_id)
        owner = session.get(User, token.user_id)
        details = {"prefix": token.prefix, "owner_id": token.user_id, "via": "cli", "os_user": os_user()}
        record(
            session,
            "api_token_revoke",
            resource_type="api_token",
            resource_id=token.id,
            details=details,
            user_agent="secureai-cli",
        )
    name = owner.username if owner else str(token.user_id)
    if json_output:
        print_json({"id": token.id, "prefix": token.prefix, "username": name, "revoked": True})
    else:
        console.print(escape(f"revoked API token sai_{token.prefix}_… of {name!r}"), highlight=False)


@app.command("bootstrap-admin")
def bootstrap_admin(
    email: Annotated[str, typer.Option("--email", help="The administrator's e-mail address.")],
    username: Annotated[str, typer.Option("--username", help="The administrator's login name.")] = "admin",
    password_stdin: PasswordStdinOption = False,
    json_output: JsonOption = False,
) -> None:
    """First run: create the first administrator. Refuses when an administrator already exists."""
    with _session() as session:
        if service.admin_exists(session):  # before the prompt, for the same reason as reset-password
            raise service.AdminExistsError(service.ADMIN_EXISTS_MESSAGE)
        user = service.bootstrap_admin(session, username, email, _read_password(password_stdin))
        _audit(session, "user_create", user, {"role": user.role.value, "bootstrap": True})
        shown = _user_json(user)
    if json_output:
        print_json(shown)
    else:
        console.print(
            escape(f"created administrator {user.username!r}; sign in with it to add more users"), highlight=False
        )
