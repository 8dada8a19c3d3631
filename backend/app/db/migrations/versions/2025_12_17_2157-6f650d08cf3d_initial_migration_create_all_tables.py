"""Initial migration - create all tables

The schema of the earlier SecureAI deployment, kept under its original revision id so that an existing
database (stamped at this revision, or made by `create_all` and never stamped) upgrades from where it is.
Idempotent: a table is created only where it is missing, and an older `scans` table without `scanner_type`
gains it. Types, nullability and defaults are those of the legacy schema, upper-case enum names included;
later revisions change them.

Revision ID: 6f650d08cf3d
Revises:
Create Date: 2025-12-17 21:57:00

"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = "6f650d08cf3d"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_users_id", "users", ["id"], unique=False)
    op.create_index("ix_users_username", "users", ["username"], unique=True)


def _create_scans() -> None:
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_type", sa.String(length=50), nullable=False),
        sa.Column("model_config", sa.JSON(), nullable=True),
        sa.Column("scanner_type", sa.String(length=50), server_default="BUILTIN", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("vulnerability_count", sa.Integer(), nullable=True),
        sa.Column("risk_score", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scans_id", "scans", ["id"], unique=False)
    op.create_index("ix_scans_status", "scans", ["status"], unique=False)


def _create_vulnerabilities() -> None:
    op.create_table(
        "vulnerabilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("probe_name", sa.String(length=100), nullable=True),
        sa.Column("probe_category", sa.String(length=100), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("remediation", sa.Text(), nullable=True),
        sa.Column("cvss_score", sa.Float(), nullable=True),
        sa.Column("extra_data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_vulnerabilities_id", "vulnerabilities", ["id"], unique=False)


def _create_compliance_mappings() -> None:
    op.create_table(
        "compliance_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("framework", sa.String(length=50), nullable=False),
        sa.Column("requirement_id", sa.String(length=50), nullable=False),
        sa.Column("requirement_name", sa.String(length=200), nullable=False),
        sa.Column("compliance_status", sa.String(length=20), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("vulnerability_ids", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_compliance_mappings_framework", "compliance_mappings", ["framework"], unique=False)
    op.create_index("ix_compliance_mappings_id", "compliance_mappings", ["id"], unique=False)


def _create_audit_logs() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_logs_id", "audit_logs", ["id"], unique=False)


#: In dependency order: a table's foreign keys point only at tables before it.
TABLES: dict[str, Callable[[], None]] = {
    "users": _create_users,
    "scans": _create_scans,
    "vulnerabilities": _create_vulnerabilities,
    "compliance_mappings": _create_compliance_mappings,
    "audit_logs": _create_audit_logs,
}


def upgrade() -> None:
    """Create the missing legacy tables; add `scans.scanner_type` where an older release left it out.

    Offline (`alembic upgrade head --sql`) there is no database to look at: the script creates every table,
    for an empty database."""
    if context.is_offline_mode():
        for create in TABLES.values():
            create()
        return
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, create in TABLES.items():
        if name not in existing:
            create()
    if "scans" in existing:
        columns = {column["name"] for column in inspector.get_columns("scans")}
        if "scanner_type" not in columns:
            op.add_column(
                "scans",
                sa.Column("scanner_type", sa.String(length=50), server_default="BUILTIN", nullable=False),
            )


def downgrade() -> None:
    """Drop every legacy table (the data goes with them: back up first)."""
    for name in reversed(TABLES):
        op.drop_table(name)
