"""lower-case enumerations, checked; unique e-mail; migration fixups

The legacy deployment stored enum *names* in upper case and allowed NULL roles and statuses. This revision:

- rewrites users.role, scans.status, scans.scanner_type, vulnerabilities.severity and
  compliance_mappings.compliance_status to lower-case values (legacy USER becomes `analyst`) and lets the
  database CHECK them;
- makes users.role and scans.status NOT NULL (defaults `viewer` and `pending`) and users.email unique;
- records in `migration_fixups` every legacy value it could not carry over as it was (NULL role, unknown or
  oddly spelled name, an e-mail already used by an older user), so nothing is lost: the downgrade restores
  those values from there, and `secureai db doctor` lists them.

All data work is set-based SQL: no table is read into Python, so memory stays flat on large databases.

Revision ID: a1c3e5f7b9d2
Revises: 6f650d08cf3d
Create Date: 2026-11-25 06:23:41.000000+00:00

"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import context, op

from app.db.enums import LEGACY_NAMES, ComplianceStatus, ScannerType, ScanStatus, Severity, UserRole

# revision identifiers, used by Alembic.
revision: str = "a1c3e5f7b9d2"
down_revision: str | Sequence[str] | None = "6f650d08cf3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("secureai.migrations")


@dataclass(frozen=True)
class EnumColumn:
    """One legacy enumeration column and how its values are carried over."""

    table: str
    column: str
    check_name: str
    names: dict[str, str]  # legacy upper-case name -> new value
    values: tuple[str, ...]  # every value the new schema allows
    fallback: str | None  # what an unknown (or NULL, when not nullable) value becomes
    nullable: bool
    legacy_nullable: bool = True
    length: int = 20
    server_default: str | None = None
    legacy_server_default: str | None = None
    #: value -> legacy name for values that have no legacy spelling of their own
    downgrade_extra: tuple[tuple[str, str], ...] = ()


ENUM_COLUMNS = (
    EnumColumn(
        "users",
        "role",
        "user_role",
        LEGACY_NAMES[UserRole],
        tuple(UserRole),
        "viewer",
        nullable=False,
        server_default="viewer",
        downgrade_extra=(("auditor", "VIEWER"),),
    ),
    EnumColumn(
        "scans",
        "status",
        "scan_status",
        LEGACY_NAMES[ScanStatus],
        tuple(ScanStatus),
        "failed",
        nullable=False,
        server_default="pending",
    ),
    EnumColumn(
        "scans",
        "scanner_type",
        "scanner_type",
        LEGACY_NAMES[ScannerType],
        tuple(ScannerType),
        "builtin",
        nullable=False,
        legacy_nullable=False,
        length=50,
        server_default="builtin",
        legacy_server_default="BUILTIN",
    ),
    EnumColumn(
        "vulnerabilities",
        "severity",
        "severity",
        LEGACY_NAMES[Severity],
        tuple(Severity),
        None,
        nullable=True,
    ),
    EnumColumn(
        "compliance_mappings",
        "compliance_status",
        "compliance_status",
        LEGACY_NAMES[ComplianceStatus],
        tuple(ComplianceStatus),
        "not_assessed",
        nullable=True,
    ),
)


def _quote(value: str | None) -> str:
    """An SQL literal for one of our own constants (never user data)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _new_value_sql(spec: EnumColumn) -> str:
    """CASE expression mapping a legacy value (any letter case, or a new value) to the new value."""
    accepted = {name.upper(): value for name, value in spec.names.items()}
    accepted.update({value.upper(): value for value in spec.values})
    branches = " ".join(f"WHEN {_quote(key)} THEN {_quote(value)}" for key, value in sorted(accepted.items()))
    return f"CASE UPPER({spec.column}) {branches} ELSE {_quote(spec.fallback)} END"


def _record_fixups(table: str, column: str, new_value_sql: str, where: str, reason: str) -> None:
    """Insert one migration_fixups row per affected row, computed in SQL; log how many (online only: offline,
    `alembic upgrade head --sql`, the statements are written out and nothing is counted)."""
    op.execute(
        sa.text(
            "INSERT INTO migration_fixups (revision, table_name, row_id, column_name, old_value, new_value,"
            " reason, created_at) "
            f"SELECT :revision, :table, id, :column, {column}, {new_value_sql}, :reason, CURRENT_TIMESTAMP "
            f"FROM {table} WHERE {where}"
        ).bindparams(revision=revision, table=table, column=column, reason=reason)
    )
    if context.is_offline_mode():
        return
    count = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COUNT(*) FROM migration_fixups WHERE revision = :revision AND table_name = :table "
                "AND column_name = :column AND reason = :reason"
            ),
            {"revision": revision, "table": table, "column": column, "reason": reason},
        )
        .scalar_one()
    )
    if count:
        log.warning("%s.%s: %d legacy value(s) changed (%s); see table migration_fixups", table, column, count, reason)


def _upgrade_data() -> None:
    for spec in ENUM_COLUMNS:
        exact = ", ".join(_quote(name) for name in spec.names)
        odd = f"{spec.column} IS NOT NULL AND {spec.column} NOT IN ({exact})"
        if not spec.nullable:
            odd = f"({odd}) OR {spec.column} IS NULL"
        _record_fixups(spec.table, spec.column, _new_value_sql(spec), odd, "not a legacy enumeration name")
        keep_null = f" WHERE {spec.column} IS NOT NULL" if spec.nullable else ""
        op.execute(sa.text(f"UPDATE {spec.table} SET {spec.column} = {_new_value_sql(spec)}{keep_null}"))

    renamed_email = "SUBSTR('dup' || CAST(id AS VARCHAR(20)) || '.' || email, 1, 255)"
    duplicate = "EXISTS (SELECT 1 FROM users AS older WHERE older.email = users.email AND older.id < users.id)"
    _record_fixups("users", "email", renamed_email, duplicate, "e-mail already used by an older user")
    # renames exactly the rows just recorded (none: nothing changes)
    op.execute(
        sa.text(
            f"UPDATE users SET email = {renamed_email} WHERE id IN (SELECT row_id FROM migration_fixups "
            "WHERE revision = :revision AND table_name = 'users' AND column_name = 'email')"
        ).bindparams(revision=revision)
    )


def _alter_schema_up() -> None:
    for table in ("users", "scans", "vulnerabilities", "compliance_mappings"):
        with op.batch_alter_table(table) as batch:
            for spec in (spec for spec in ENUM_COLUMNS if spec.table == table):
                batch.alter_column(
                    spec.column,
                    existing_type=sa.String(length=spec.length),
                    nullable=spec.nullable,
                    server_default=spec.server_default,
                )
                allowed = ", ".join(_quote(value) for value in spec.values)
                batch.create_check_constraint(op.f(f"ck_{table}_{spec.check_name}"), f"{spec.column} IN ({allowed})")
            if table == "users":
                batch.create_index(batch.f("ix_users_email"), ["email"], unique=True)


def upgrade() -> None:
    """Carry the legacy values over (recording what could not be kept as it was), then tighten the schema."""
    op.create_table(
        "migration_fixups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("table_name", sa.String(length=50), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.String(length=50), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_fixups")),
    )
    _upgrade_data()
    _alter_schema_up()


def downgrade() -> None:
    """Loosen the schema, write the legacy upper-case names back, then restore every recorded original."""
    for table in ("users", "scans", "vulnerabilities", "compliance_mappings"):
        with op.batch_alter_table(table) as batch:
            if table == "users":
                batch.drop_index(batch.f("ix_users_email"))
            for spec in (spec for spec in ENUM_COLUMNS if spec.table == table):
                batch.drop_constraint(op.f(f"ck_{table}_{spec.check_name}"), type_="check")
                batch.alter_column(
                    spec.column,
                    existing_type=sa.String(length=spec.length),
                    nullable=spec.legacy_nullable,
                    server_default=spec.legacy_server_default,
                )

    for spec in ENUM_COLUMNS:
        reverse = {value: name for name, value in spec.names.items()}
        reverse.update(dict(spec.downgrade_extra))
        branches = " ".join(f"WHEN {_quote(value)} THEN {_quote(name)}" for value, name in sorted(reverse.items()))
        op.execute(
            sa.text(f"UPDATE {spec.table} SET {spec.column} = CASE {spec.column} {branches} ELSE {spec.column} END")
        )
    for table, column in {(spec.table, spec.column) for spec in ENUM_COLUMNS} | {("users", "email")}:
        op.execute(
            sa.text(
                f"UPDATE {table} SET {column} = (SELECT f.old_value FROM migration_fixups AS f "
                f"WHERE f.revision = :revision AND f.table_name = :table AND f.column_name = :column "
                f"AND f.row_id = {table}.id) "
                f"WHERE id IN (SELECT row_id FROM migration_fixups WHERE revision = :revision "
                f"AND table_name = :table AND column_name = :column)"
            ).bindparams(revision=revision, table=table, column=column)
        )
    op.drop_table("migration_fixups")
