"""Legacy databases: copy one into another server, and prove an upgrade lost nothing.

`compare_with_original` walks the original file and the upgraded database side by side in id order (streamed,
never a whole table in memory) and checks every value: unchanged columns must be equal, enumeration columns
must hold the mapped value of their legacy name, and any other change must be explained by a row in
`migration_fixups` that remembers the original.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, select, text

from app.config import MissingSecretKeyError, get_settings
from app.core.crypto import SealingKey, SecretDecryptError, unseal
from app.db.enums import LEGACY_NAMES, ComplianceStatus, ScannerType, ScanStatus, Severity, UserRole
from app.db.legacy_secrets import MARKER, split_secrets
from app.db.migrate import LEGACY_REVISION, LEGACY_TABLES, upgrade

#: (table, column) -> legacy name -> value: columns whose values the data migration rewrites.
ENUM_COLUMNS: dict[tuple[str, str], dict[str, str]] = {
    ("users", "role"): LEGACY_NAMES[UserRole],
    ("scans", "status"): LEGACY_NAMES[ScanStatus],
    ("scans", "scanner_type"): LEGACY_NAMES[ScannerType],
    ("vulnerabilities", "severity"): LEGACY_NAMES[Severity],
    ("compliance_mappings", "compliance_status"): LEGACY_NAMES[ComplianceStatus],
}
BATCH = 2000


def open_read_only(path: Path) -> Engine:
    """An engine on an SQLite file that cannot write to it (the samples are never upgraded in place)."""
    return create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")


def _reflect(engine: Engine, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=engine)


def _rows(engine: Engine, table: Table) -> Iterator[dict[str, Any]]:
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=BATCH).execute(select(table).order_by(table.c.id))
        for row in result.mappings():
            yield dict(row)


def copy_legacy_database(source: Path, target_url: str) -> dict[str, int]:
    """Load a legacy SQLite file into an empty database at `target_url`, as the legacy deployment had it.

    The target gets the legacy schema (revision 6f650d08cf3d), then every row in batches. A source that was
    never stamped gives a target without `alembic_version`, so adoption of unstamped databases can be tested
    on any server. Returns the row count per table.
    """
    upgrade(target_url, LEGACY_REVISION)
    source_engine = open_read_only(source)
    target_engine = create_engine(target_url)
    counts: dict[str, int] = {}
    try:
        with target_engine.begin() as connection:
            for name in LEGACY_TABLES:
                source_table = _reflect(source_engine, name)
                target_table = _reflect(target_engine, name)
                counts[name] = 0
                batch: list[dict[str, Any]] = []
                for row in _rows(source_engine, source_table):
                    batch.append(row)
                    if len(batch) >= BATCH:
                        connection.execute(target_table.insert(), batch)
                        counts[name] += len(batch)
                        batch = []
                if batch:
                    connection.execute(target_table.insert(), batch)
                    counts[name] += len(batch)
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE(MAX(id), 1)) FROM {name}")
                    )
            if "scanner_type" not in _reflect(source_engine, "scans").c:
                connection.execute(text("ALTER TABLE scans DROP COLUMN scanner_type"))
            if not _has_table(source_engine, "alembic_version"):
                connection.execute(text("DROP TABLE alembic_version"))
    finally:
        source_engine.dispose()
        target_engine.dispose()
    return counts


def _has_table(engine: Engine, name: str) -> bool:
    with engine.connect() as connection:
        return engine.dialect.has_table(connection, name)


@dataclass
class LegacyComparison:
    """Outcome of comparing an upgraded database with its original file."""

    rows: dict[str, int] = field(default_factory=dict)
    values_checked: int = 0
    fixups: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_fixups(upgraded: Engine) -> dict[tuple[str, str, int], tuple[str | None, str | None]]:
    """(table, column, row id) -> (old value, new value) recorded by the data migrations."""
    if not _has_table(upgraded, "migration_fixups"):
        return {}
    with upgraded.connect() as connection:
        rows = connection.execute(
            text("SELECT table_name, column_name, row_id, old_value, new_value FROM migration_fixups")
        )
        return {(t, c, r): (old, new) for t, c, r, old, new in rows}


def _expected(table: str, column: str, original: Any, upgraded_rev_is_legacy: bool) -> Any:
    """The value an upgraded row should hold for a legacy value, where no fixup explains otherwise."""
    if upgraded_rev_is_legacy or (table, column) not in ENUM_COLUMNS or original is None:
        return original
    return ENUM_COLUMNS[(table, column)].get(original, original)


def _sealed_originals(upgraded: Engine, secret_key: str | None) -> tuple[dict[int, str], list[str]]:
    """Scan id -> original model_config text, as sealed into the targets made from legacy scans."""
    if not _has_table(upgraded, "targets"):
        return {}, []
    with upgraded.connect() as connection:
        targets = Table("targets", MetaData(), autoload_with=connection)
        rows = connection.execute(select(targets.c.settings, targets.c.credentials)).all()
    sealed = [credentials for settings, credentials in rows if isinstance(settings, dict) and settings.get(MARKER)]
    sealed = [credentials for credentials in sealed if credentials]
    if not sealed:
        return {}, []
    if secret_key is None:
        try:
            secret_key = get_settings().require_secret_key()
        except MissingSecretKeyError:
            return {}, ["targets: the sealed legacy credentials cannot be checked without SECUREAI_SECRET_KEY"]
    key = SealingKey.derive(secret_key)
    originals: dict[int, str] = {}
    problems = []
    for credentials in sealed:
        try:
            data = unseal(credentials, key)
        except SecretDecryptError as error:
            problems.append(f"targets: sealed legacy credentials unreadable: {error}")
            continue
        originals.update({int(scan_id): text_value for scan_id, text_value in data["legacy_originals"].items()})
    return originals, problems


def _check_sealed_config(scan_id: int, old_value: Any, new_value: Any, sealed_text: str) -> list[str]:
    """A rewritten model_config holds the original's public part, and the sealed copy is the original."""
    problems = []
    if json.loads(sealed_text) != old_value:
        problems.append(f"scans.model_config id={scan_id}: the sealed original differs from the legacy value")
    if not isinstance(old_value, dict) or new_value != split_secrets(old_value)[0]:
        problems.append(f"scans.model_config id={scan_id}: {new_value!r} is not the original without its secrets")
    return problems


def compare_with_original(
    original: Path, upgraded: Engine, *, at_legacy_revision: bool = False, secret_key: str | None = None
) -> LegacyComparison:
    """Check, row by row and value by value, that `upgraded` holds everything `original` held.

    With `at_legacy_revision` the upgraded database was downgraded back to 6f650d08cf3d and every value must be
    exactly the original again (upper-case names, NULL roles, duplicate e-mails and all). A legacy
    `scans.model_config` whose credentials were sealed into a target is checked against the sealed original,
    which needs the SECUREAI_SECRET_KEY the upgrade ran with (`secret_key`, else the settings').
    """
    report = LegacyComparison()
    fixups = {} if at_legacy_revision else _load_fixups(upgraded)
    report.fixups = len(fixups)
    sealed, problems = ({}, []) if at_legacy_revision else _sealed_originals(upgraded, secret_key)
    report.problems.extend(problems)
    source = open_read_only(original)
    try:
        for name in LEGACY_TABLES:
            before, after = _reflect(source, name), _reflect(upgraded, name)
            missing = sorted(set(before.c.keys()) - set(after.c.keys()))
            if missing:
                report.problems.append(f"{name}: columns lost: {', '.join(missing)}")
            count = 0
            for old_row, new_row in zip_longest(_rows(source, before), _rows(upgraded, after)):
                if old_row is None or new_row is None:
                    side = "missing after the upgrade" if new_row is None else "not in the original"
                    row_id = (old_row or new_row or {}).get("id")
                    report.problems.append(f"{name} id={row_id}: row {side}")
                    continue
                count += 1
                if old_row["id"] != new_row["id"]:
                    report.problems.append(f"{name}: row id {old_row['id']} became {new_row['id']}")
                    continue
                for column, old_value in old_row.items():
                    report.values_checked += 1
                    new_value = new_row.get(column)
                    fixup = fixups.get((name, column, old_row["id"]))
                    if (name, column) == ("scans", "model_config") and old_row["id"] in sealed:
                        report.problems.extend(
                            _check_sealed_config(old_row["id"], old_value, new_value, sealed[old_row["id"]])
                        )
                    elif fixup is not None:
                        if fixup[0] != (None if old_value is None else str(old_value)) or fixup[1] != new_value:
                            report.problems.append(
                                f"{name}.{column} id={old_row['id']}: fixup {fixup!r} does not match "
                                f"{old_value!r} -> {new_value!r}"
                            )
                    elif new_value != _expected(name, column, old_value, at_legacy_revision):
                        report.problems.append(
                            f"{name}.{column} id={old_row['id']}: {old_value!r} became {new_value!r}"
                        )
                if "scanner_type" not in old_row and name == "scans" and not at_legacy_revision:
                    report.values_checked += 1
                    if new_row.get("scanner_type") != "builtin":
                        report.problems.append(f"scans.scanner_type id={old_row['id']}: expected 'builtin'")
            report.rows[name] = count
    finally:
        source.dispose()
    return report


def text_sha256(engine: Engine) -> str:
    """The manifests' text digest: per scan in id order, its findings' evidence in id order, name, description."""
    digest = hashlib.sha256()
    with engine.connect() as connection:
        scans = connection.execute(text("SELECT id, name, description FROM scans ORDER BY id"))
        for scan_id, name, description in scans.all():
            evidence = connection.execute(
                text("SELECT evidence FROM vulnerabilities WHERE scan_id = :scan ORDER BY id"), {"scan": scan_id}
            )
            for (item,) in evidence:
                digest.update((item or "").encode("utf-8"))
            digest.update((name or "").encode("utf-8"))
            digest.update((description or "").encode("utf-8"))
    return digest.hexdigest()
