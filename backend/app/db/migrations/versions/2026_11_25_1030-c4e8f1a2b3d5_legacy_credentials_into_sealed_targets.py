"""legacy credentials into sealed targets

The legacy deployment kept each scan's connection settings in `scans.model_config`, API keys and
`Authorization` headers in plain text. This revision turns every distinct legacy configuration into a row of
`targets` and links its scans to it (`scans.target_id`):

- secrets (`api_key`, secret-looking keys, and headers that carry credentials or the API key) are sealed with
  a key derived from SECUREAI_SECRET_KEY (`app.core.crypto`) into `targets.credentials`;
- `scans.model_config` keeps only the non-secret settings, so no plaintext secret is left in any table;
- the exact original text of each rewritten `model_config` is sealed with the credentials, so the downgrade
  can put it back byte for byte (it needs the same SECUREAI_SECRET_KEY);
- on SQLite the migration environment runs VACUUM afterwards, so the old values do not survive in free
  pages either (see `request_vacuum` in env.py).

Without SECUREAI_SECRET_KEY (or SECUREAI_DEMO=1) the upgrade refuses to run when there is anything to seal,
and changes nothing: env.py calls `preflight_upgrade` before the first revision of the run is applied.

Revision ID: c4e8f1a2b3d5
Revises: 64971bd2b79a
Create Date: 2026-11-25 10:30:00.000000+00:00

"""

import json
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from app.config import MissingSecretKeyError, WeakSecretKeyError, get_settings
from app.core.crypto import SealingKey, SecretDecryptError, seal, unseal
from app.db.errors import MigrationPreconditionError
from app.db.legacy_secrets import MARKER, split_secrets

# revision identifiers, used by Alembic.
revision: str = "c4e8f1a2b3d5"
down_revision: str | Sequence[str] | None = "64971bd2b79a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("secureai.migrations")

#: legacy model_type -> connector type of this release (others keep their legacy name; not scannable as is)
CONNECTOR_TYPES = {"openai": "openai", "rest": "http"}

scans = sa.table(
    "scans",
    sa.column("id", sa.Integer),
    sa.column("model_name", sa.String),
    sa.column("model_type", sa.String),
    sa.column("model_config", sa.Text),
    sa.column("target_id", sa.Integer),
)
targets = sa.table(
    "targets",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("type", sa.String),
    sa.column("settings", sa.JSON),
    sa.column("credentials", sa.Text),
    sa.column("created_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)


def _raw_configs(bind: sa.Connection) -> list[sa.Row[Any]]:
    text_config = sa.cast(sa.column("model_config"), sa.Text)
    query = sa.select(
        sa.column("id"), sa.column("model_name"), sa.column("model_type"), text_config.label("config")
    ).select_from(sa.table("scans"))
    return list(bind.execute(query.where(sa.column("model_config").is_not(None)).order_by(sa.column("id"))))


def _sealing_key(purpose: str) -> SealingKey:
    try:
        return SealingKey.derive(get_settings().require_secret_key())
    except WeakSecretKeyError as error:
        raise MigrationPreconditionError(f"{error} Nothing was changed.") from None
    except MissingSecretKeyError:
        raise MigrationPreconditionError(
            f"SECUREAI_SECRET_KEY is required to {purpose}; set it (the server needs it too) and run the "
            "migration again. Nothing was changed."
        ) from None


def _target_name(model_name: str, model_type: str, taken: set[str]) -> str:
    base = f"{model_name} ({model_type})"[:90]
    name, number = base, 2
    while name in taken:
        name, number = f"{base} #{number}", number + 1
    taken.add(name)
    return name


def _write_config(bind: sa.Connection, scan_id: int, text_value: str, target_id: int | None) -> None:
    """Store `text_value` as the JSON text of the scan's model_config, exactly as given."""
    value_sql = "CAST(:config AS JSON)" if bind.dialect.name == "postgresql" else ":config"
    bind.execute(
        sa.text(f"UPDATE scans SET model_config = {value_sql}, target_id = :target WHERE id = :id"),
        {"config": text_value, "target": target_id, "id": scan_id},
    )


def _parsed_configs(bind: sa.Connection) -> list[tuple[Any, ...]]:
    """(row, config, public part, secrets) of every legacy model_config that is a JSON object."""
    parsed = []
    for row in _raw_configs(bind):
        try:
            config = json.loads(row.config)
        except (TypeError, ValueError):
            continue  # not JSON (never seen): left as it is
        if isinstance(config, dict):
            parsed.append((row, config, *split_secrets(config)))
    return parsed


def _purpose(count: int) -> str:
    return f"seal the credentials of {count} legacy scan configuration(s)"


def preflight_upgrade(bind: sa.Connection) -> None:
    """Before the run's first revision: refuse (MigrationPreconditionError) if there is anything to seal and
    no usable SECUREAI_SECRET_KEY. Reads `scans` as it is now (legacy, or not there yet on a new database)."""
    if not sa.inspect(bind).has_table("scans"):
        return
    parsed = _parsed_configs(bind)
    if parsed:
        _sealing_key(_purpose(len(parsed)))


def _offline_guard(condition: str, work: str) -> None:
    """Offline (`alembic upgrade head --sql`, PostgreSQL) nothing can be read or sealed: write a statement that
    stops the script, with nothing of this revision done, if the database holds data this revision must
    convert; on a database without such rows the script goes on."""
    message = (
        f"revision {revision} must {work} online, with SECUREAI_SECRET_KEY: run `alembic upgrade head` or "
        "`secureai db upgrade` against the database instead of this SQL script"
    )
    op.execute(f"DO $$ BEGIN IF EXISTS ({condition}) THEN RAISE EXCEPTION '{message}'; END IF; END $$")


def upgrade() -> None:
    """Seal legacy credentials into targets and strip them from scans.model_config."""
    if context.is_offline_mode():
        _offline_guard(
            "SELECT 1 FROM scans WHERE model_config IS NOT NULL AND json_typeof(model_config) = 'object'",
            "seal the legacy credentials in scans.model_config",
        )
        return
    bind = op.get_bind()
    parsed = _parsed_configs(bind)
    if not parsed:
        return
    key = _sealing_key(_purpose(len(parsed)))
    now = sa.func.current_timestamp()
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for item in parsed:
        row, _, public, secret = item
        identity = json.dumps([row.model_type, row.model_name, public, secret], sort_keys=True, default=str)
        groups.setdefault(identity, []).append(item)
    taken = {name for (name,) in bind.execute(sa.select(targets.c.name))}
    sealed_scans = 0
    for members in groups.values():
        first_row, _, public, secret = members[0]
        originals = {str(row.id): row.config for row, _, _, row_secret in members if row_secret}
        settings: dict[str, Any] = {MARKER: True, "model": first_row.model_name, "legacy_config": public}
        if first_row.model_type == "rest" and isinstance(public.get("endpoint"), str):
            settings["base_url"] = public["endpoint"]
        credentials = seal({"secrets": secret, "legacy_originals": originals}, key) if secret else None
        target_id = bind.execute(
            targets.insert()
            .values(
                name=_target_name(str(first_row.model_name), str(first_row.model_type), taken),
                type=CONNECTOR_TYPES.get(str(first_row.model_type), str(first_row.model_type))[:20],
                settings=settings,
                credentials=credentials,
                created_at=now,
                updated_at=now,
            )
            .returning(targets.c.id)
        ).scalar_one()
        for row, _, row_public, row_secret in members:
            if row_secret:
                _write_config(bind, row.id, json.dumps(row_public, ensure_ascii=False), target_id)
                sealed_scans += 1
            else:
                bind.execute(scans.update().where(scans.c.id == row.id).values(target_id=target_id))
    context.config.attributes["vacuum"] = True  # env.py: VACUUM on SQLite once the transaction committed
    log.warning(
        "scans.model_config: plaintext credentials of %d scan(s) sealed into %d target(s)", sealed_scans, len(groups)
    )


def downgrade() -> None:
    """Put each rewritten model_config back as it was and remove the targets this revision made."""
    if context.is_offline_mode():
        _offline_guard(
            f"SELECT 1 FROM targets WHERE settings::jsonb ? '{MARKER}'",
            "restore the legacy credentials sealed in targets",
        )
        return
    bind = op.get_bind()
    made = [
        (row.id, row.credentials)
        for row in bind.execute(sa.select(targets.c.id, targets.c.settings, targets.c.credentials))
        if isinstance(row.settings, dict) and row.settings.get(MARKER)
    ]
    if any(credentials for _, credentials in made):
        key = _sealing_key("restore the legacy plaintext credentials")
        for _, credentials in made:
            if not credentials:
                continue
            try:
                originals = unseal(credentials, key).get("legacy_originals", {})
            except SecretDecryptError as error:
                raise MigrationPreconditionError(
                    f"cannot restore legacy credentials: {error}. Nothing was changed."
                ) from None
            for scan_id, text_value in originals.items():
                _write_config(bind, int(scan_id), text_value, None)
    ids = [target_id for target_id, _ in made]
    if ids:
        bind.execute(scans.update().where(scans.c.target_id.in_(ids)).values(target_id=None))
        bind.execute(targets.delete().where(targets.c.id.in_(ids)))
