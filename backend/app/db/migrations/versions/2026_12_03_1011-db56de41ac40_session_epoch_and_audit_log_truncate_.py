"""session epoch and audit log truncate guard

- `users.session_epoch` (integer, 0 for every existing user): bumped by a disable, a role change, a password
  reset and "sign out everywhere"; an access token carries the epoch it was issued in and one from an older
  epoch is refused, so tokens issued before such an event stay dead, also after the account is enabled again.
- PostgreSQL: `TRUNCATE audit_logs` is refused by a BEFORE TRUNCATE statement trigger calling the function of
  the append-only row trigger (revision 64971bd2b79a), which names the refused operation.

Revision ID: db56de41ac40
Revises: c4e8f1a2b3d5
Create Date: 2026-12-03 10:11:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "db56de41ac40"
down_revision: str | Sequence[str] | None = "c4e8f1a2b3d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
FOR EACH STATEMENT EXECUTE FUNCTION secureai_audit_logs_append_only()
"""


def upgrade() -> None:
    """Add users.session_epoch; refuse TRUNCATE of audit_logs on PostgreSQL."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NO_TRUNCATE_TRIGGER)


def downgrade() -> None:
    """Drop the TRUNCATE guard and the column (the append-only row trigger stays: it belongs to 64971bd2b79a)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_truncate ON audit_logs")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
