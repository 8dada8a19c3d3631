"""attack steps journal

- `attack_steps`: one row per exchange (target, attacker or judge request and its reply) of an adaptive
  attack of a platform scan, written as it happens, unique per (scan, attempt key, step id). A resumed scan
  replays these rows instead of sending the requests again.

Revision ID: 7b2e9c4d1f60
Revises: db56de41ac40
Create Date: 2026-12-03 13:30:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "7b2e9c4d1f60"
down_revision: str | Sequence[str] | None = "db56de41ac40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create attack_steps."""
    op.create_table(
        "attack_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("attempt_key", sa.String(length=200), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_attack_steps_scan_id_scans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attack_steps")),
        sa.UniqueConstraint("scan_id", "attempt_key", "step", name="uq_attack_steps_scan_id_attempt_key_step"),
    )


def downgrade() -> None:
    """Drop attack_steps."""
    op.drop_table("attack_steps")
