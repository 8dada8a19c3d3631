"""probe packs

- `probe_packs`: the user probe packs uploaded to the platform, one row per version of a pack name, holding the
  YAML text as uploaded, its SHA-256 digest, the platform's version number (unique per name), the version the
  YAML declares, who uploaded it and whether it is the name's active version. Scans record the
  (name, version, digest) of every pack they ran in `scans.options.packs` and read the text back from here
  when they resume.

Revision ID: d86294de60a6
Revises: 7b2e9c4d1f60
Create Date: 2026-12-04 09:00:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "d86294de60a6"
down_revision: str | Sequence[str] | None = "7b2e9c4d1f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create probe_packs."""
    op.create_table(
        "probe_packs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("declared_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("probe_count", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.Column("deactivated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_probe_packs_uploaded_by_users")),
        sa.ForeignKeyConstraint(["deactivated_by"], ["users.id"], name=op.f("fk_probe_packs_deactivated_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_packs")),
        sa.UniqueConstraint("name", "version", name="uq_probe_packs_name_version"),
    )


def downgrade() -> None:
    """Drop probe_packs (the packs uploaded to the platform go with it)."""
    op.drop_table("probe_packs")
