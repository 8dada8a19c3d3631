"""triage expiry

- `finding_triage.expires_at`: when an accepted risk lapses. Until then the finding is left out of the risk
  score, the executive summary and CI gating; afterwards it counts again as an open finding (the triage row
  stays, so the reason and who accepted it remain visible). NULL for every other state, and for accepted risks
  recorded before this revision (they read as accepted without an end date).

Revision ID: f8885e0a3b7a
Revises: d86294de60a6
Create Date: 2026-12-04 19:00:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "f8885e0a3b7a"
down_revision: str | Sequence[str] | None = "d86294de60a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add finding_triage.expires_at."""
    with op.batch_alter_table("finding_triage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Drop finding_triage.expires_at."""
    with op.batch_alter_table("finding_triage", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
