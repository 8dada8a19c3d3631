"""platform tables: targets, attempts, triage, tokens, throttles, audit chain

What the multi-user platform stores beside the legacy tables. Legacy tables only gain nullable columns, so
their rows stay as they were and a legacy client reading them still makes sense:

- `targets` (credentials sealed with SECUREAI_SECRET_KEY) and `scans.target_id`, `options`, progress of the
  worker (`attempts_planned`, `heartbeat_at`, `cancel_requested_at`, `error_message`);
- `attempts`, one row per finished attempt and unique per (scan, key): the checkpoint a resumed scan reads;
- engine findings in `vulnerabilities` (fingerprint, OWASP category, ASR and its interval, outcome counts)
  with indexes for the findings list; `finding_triage` keyed by (target, fingerprint) so triage carries over;
- `refresh_tokens`, `api_tokens` (digests only) and `login_throttles` for authentication;
- the audit hash chain (`prev_hash`, `row_hash`; NULL on legacy rows) and, on PostgreSQL, a trigger that
  refuses UPDATE and DELETE on `audit_logs`.

Revision ID: 64971bd2b79a
Revises: a1c3e5f7b9d2
Create Date: 2026-11-25 10:00:25.380152+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "64971bd2b79a"
down_revision: str | Sequence[str] | None = "a1c3e5f7b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION secureai_audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
FOR EACH ROW EXECUTE FUNCTION secureai_audit_logs_append_only()
"""


def upgrade() -> None:
    """Create the platform tables and columns; make audit_logs append-only on PostgreSQL."""
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "analyst",
                "viewer",
                "auditor",
                name="api_token_role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_tokens_prefix")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=50), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_targets_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_targets_name")),
    )
    op.create_table(
        "finding_triage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "confirmed",
                "false_positive",
                "accepted_risk",
                "fixed",
                name="triage_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], name=op.f("fk_finding_triage_target_id_targets")),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name=op.f("fk_finding_triage_updated_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding_triage")),
        sa.UniqueConstraint("target_id", "fingerprint", name="uq_finding_triage_target_id_fingerprint"),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("probe_id", sa.String(length=100), nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("strategies", sa.String(length=200), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "vulnerable",
                "safe",
                "refused",
                "error",
                "blocked",
                "unscored",
                name="attempt_outcome",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("turns", sa.JSON(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("verdicts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("requests_made", sa.Integer(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_attempts_scan_id_scans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("scan_id", "key", name="uq_attempts_scan_id_key"),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_scan_id_outcome", ["scan_id", "outcome"], unique=False)
        batch_op.create_index("ix_attempts_scan_id_probe_id", ["scan_id", "probe_id"], unique=False)

    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_logs_prev_hash"), ["prev_hash"])
        batch_op.create_unique_constraint(batch_op.f("uq_audit_logs_row_hash"), ["row_hash"])

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("attempts_planned", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("error_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cancel_requested_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_scans_target_id"), ["target_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_scans_target_id_targets"), "targets", ["target_id"], ["id"])

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("vulnerabilities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("owasp", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("asr", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("asr_low", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("asr_high", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("outcome_counts", sa.JSON(), nullable=True))
        batch_op.create_index("ix_vulnerabilities_asr_id", ["asr", "id"], unique=False)
        batch_op.create_index("ix_vulnerabilities_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_vulnerabilities_scan_id_severity", ["scan_id", "severity"], unique=False)
        batch_op.create_index("ix_vulnerabilities_severity_owasp_asr", ["severity", "owasp", "asr", "id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    """Drop what upgrade added; legacy rows and columns are untouched."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs")
        op.execute("DROP FUNCTION IF EXISTS secureai_audit_logs_append_only()")
    with op.batch_alter_table("vulnerabilities", schema=None) as batch_op:
        batch_op.drop_index("ix_vulnerabilities_severity_owasp_asr")
        batch_op.drop_index("ix_vulnerabilities_scan_id_severity")
        batch_op.drop_index("ix_vulnerabilities_fingerprint")
        batch_op.drop_index("ix_vulnerabilities_asr_id")
        batch_op.drop_column("outcome_counts")
        batch_op.drop_column("attempts")
        batch_op.drop_column("asr_high")
        batch_op.drop_column("asr_low")
        batch_op.drop_column("asr")
        batch_op.drop_column("owasp")
        batch_op.drop_column("fingerprint")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("last_login_at")

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_scans_target_id_targets"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_scans_target_id"))
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("cancel_requested_at")
        batch_op.drop_column("error_message")
        batch_op.drop_column("attempts_planned")
        batch_op.drop_column("options")
        batch_op.drop_column("target_id")

    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_logs_row_hash"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_audit_logs_prev_hash"), type_="unique")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_scan_id_probe_id")
        batch_op.drop_index("ix_attempts_scan_id_outcome")

    op.drop_table("attempts")
    op.drop_table("finding_triage")
    op.drop_table("targets")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_family_id"))

    op.drop_table("refresh_tokens")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("login_throttles")
