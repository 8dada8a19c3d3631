"""`secureai secrets`: make a secret key, and operate on the sealed credentials (key rotation)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from app.audit.log import record
from app.cli.database import database_session
from app.cli.output import ExitCode, console, fail, print_json
from app.cli.users import os_user
from app.config import MIN_SECRET_KEY_BITS, MissingSecretKeyError, get_settings, secret_key_problem
from app.core.crypto import SealingKey, SecretDecryptError
from app.crud.targets import reseal_all

app = typer.Typer(help="Make a secret key; operate on sealed credentials.", no_args_is_help=True)

#: Random bytes in a generated key: 384 bits, printed as 64 base64url characters.
GENERATED_KEY_BYTES = 48


@app.command("generate-key")
def generate_key(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print a new random SECUREAI_SECRET_KEY (48 bytes from the OS's CSPRNG, base64url); nothing is stored."""
    key = secrets.token_urlsafe(GENERATED_KEY_BYTES)
    while secret_key_problem(key) is not None:  # odds far below one in a million; never print a refused key
        key = secrets.token_urlsafe(GENERATED_KEY_BYTES)
    if json_output:
        print_json({"secret_key": key, "bits": GENERATED_KEY_BYTES * 8, "minimum_bits": MIN_SECRET_KEY_BITS})
        return
    typer.echo(key)


def _old_key(env_name: str | None, key_file: Path | None) -> str:
    if bool(env_name) == bool(key_file):
        fail("give the previous key with exactly one of --old-key-env NAME or --old-key-file PATH", ExitCode.USAGE)
    if env_name:
        value = os.environ.get(env_name, "")
        if not value:
            fail(f"environment variable {env_name} (--old-key-env) is not set", ExitCode.USAGE)
        return value
    assert key_file is not None
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        fail(f"cannot read --old-key-file {key_file}: {error.strerror}", ExitCode.USAGE)


@app.command("rotate-key")
def rotate_key(
    old_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the previous SECUREAI_SECRET_KEY.")
    ] = None,
    old_key_file: Annotated[Path | None, typer.Option(help="File holding the previous SECUREAI_SECRET_KEY.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-encrypt every target's credentials from the previous key to the current SECUREAI_SECRET_KEY.

    Set SECUREAI_SECRET_KEY to the new key and pass the old one by variable name or file (never on the command
    line). All or nothing; running it again after an interruption finishes the job.
    """
    try:
        new = SealingKey.derive(get_settings().require_secret_key())
    except MissingSecretKeyError as error:
        fail(str(error), ExitCode.USAGE)
    old = SealingKey.derive(_old_key(old_key_env, old_key_file))
    if old.key_id == new.key_id:
        fail("the previous key and SECUREAI_SECRET_KEY are the same key; set SECUREAI_SECRET_KEY to the new one")
    try:
        with database_session(("targets", "audit_logs")) as session:
            report = reseal_all(session, old, new)
            record(
                session,
                "secrets_rotate_key",
                details={"via": "cli", "os_user": os_user(), "resealed": report.resealed, "key_id": new.key_id},
                user_agent="secureai-cli",
            )
    except SecretDecryptError as error:
        fail(f"nothing changed: {error}")
    if json_output:
        print_json({"resealed": report.resealed, "already_current": report.already_current, "key_id": new.key_id})
        return
    console.print(
        f"re-encrypted {report.resealed} target credential(s) to key {new.key_id}; "
        f"{report.already_current} already used it, {report.without_credentials} target(s) have none"
    )
