"""Append to the audit log: redact, link to the tail of the chain, hash, insert, in the caller's transaction.

The chain stays linear only if no two writers read the same tail. Each backend is made to serialise writers
*before* the tail is read, and to keep them serialised until the caller commits:

- PostgreSQL: `pg_advisory_xact_lock(AUDIT_LOCK_KEY)`, released at commit or rollback. Under READ COMMITTED (the
  default) the tail query that follows takes a fresh snapshot, so it sees the row of the writer that held the
  lock before. REPEATABLE READ and SERIALIZABLE keep the transaction's first snapshot, which may predate that
  row, so `record` refuses to run under them.
- SQLite: the sqlite3 driver opens a transaction only at the first write, and an SQLite write transaction takes
  the database's single write lock and always sees the latest data. `record` therefore starts with a write
  that changes nothing (`INSERT ... SELECT ... WHERE 0`): from then on this connection holds the write lock
  (other writers wait on the busy timeout) and the tail it reads cannot change until the caller commits. The
  effect is that of `BEGIN IMMEDIATE`, and it also works when the caller's transaction is already open. (Had
  that transaction read under an explicit deferred BEGIN, which the driver does not do by default, SQLite
  would refuse the upgrade to a write with "database is locked" rather than let the chain fork.)

Either way the lock is held until the caller's transaction ends (an autocommit connection, where it would end
with the statement, is refused), so call `record` late in a transaction that does other slow work. Rows are
only ever added: this module has no update or delete, and on PostgreSQL a trigger refuses both (migration
64971bd2b79a).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.chain import GENESIS_HASH, RowFields, compute_row_hash, normalise_details
from app.audit.redact import redact, redact_text
from app.db.models import AuditLog, utcnow

#: PostgreSQL advisory lock key serialising audit writers ("SecAIaud"); distinct from the migration lock's key.
AUDIT_LOCK_KEY = 0x5365_6341_4961_7564

#: Column widths of audit_logs; client-supplied values longer than these are cut, code-supplied ones refused.
ACTION_MAX = 50
RESOURCE_TYPE_MAX = 50
IP_ADDRESS_MAX = 45
USER_AGENT_MAX = 255


def _lock_chain(session: Session) -> None:
    """Serialise audit writers until the end of the caller's transaction (see the module docstring).

    A lock that ends with the statement protects nothing, so an autocommit connection is refused too.
    """
    connection = session.connection()
    driver = connection.connection.driver_connection
    dialect = connection.dialect.name
    if dialect == "postgresql":
        isolation = connection.execute(
            text("SELECT pg_advisory_xact_lock(:key), current_setting('transaction_isolation')"),
            {"key": AUDIT_LOCK_KEY},
        ).one()[1]
        if getattr(driver, "autocommit", False):
            raise RuntimeError("audit records need a transaction; the connection is in autocommit mode")
        if isolation != "read committed":
            raise RuntimeError(f"audit records need a READ COMMITTED transaction, not {isolation.upper()}")
    elif dialect == "sqlite":
        connection.execute(text("INSERT INTO audit_logs (action) SELECT 'chain lock' WHERE 0"))
        if not getattr(driver, "in_transaction", True):
            raise RuntimeError("audit records need a transaction; the connection is in autocommit mode")
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"the audit chain does not know how to lock a {dialect} database")


def chain_tail(session: Session) -> str:
    """`row_hash` of the last chained row, or `GENESIS_HASH` when no row is chained yet."""
    tail = session.execute(
        select(AuditLog.row_hash).where(AuditLog.row_hash.is_not(None)).order_by(AuditLog.id.desc()).limit(1)
    ).scalar_one_or_none()
    return tail or GENESIS_HASH


def _fits(name: str, value: str | None, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise ValueError(f"audit {name} is {len(value)} characters long, the column holds {limit}")
    return value


def record(
    session: Session,
    action: str,
    *,
    user_id: int | None = None,
    resource_type: str | None = None,
    resource_id: int | None = None,
    details: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """Add one chained audit row to `session`'s transaction and return it (flushed: its id is set).

    `details` is redacted (app.audit.redact) and must be JSON-able. The caller commits; if it rolls back, the
    row and its place in the chain go with it. Overlong `ip_address`/`user_agent` (client-controlled) are cut
    to the column width; an overlong `action` or `resource_type` is a programming error (ValueError).
    """
    _fits("action", action, ACTION_MAX)
    _fits("resource_type", resource_type, RESOURCE_TYPE_MAX)
    stored_details = normalise_details(redact(details))
    ip_address = ip_address[:IP_ADDRESS_MAX] if ip_address is not None else None
    user_agent = redact_text(user_agent)[:USER_AGENT_MAX] if user_agent is not None else None

    _lock_chain(session)
    created_at = utcnow()  # taken under the lock, so timestamps never go backwards along the chain
    prev_hash = chain_tail(session)
    fields = RowFields(
        prev_hash=prev_hash,
        user_id=user_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        details=stored_details,
        ip_address=ip_address,
        user_agent=user_agent,
        created_at=created_at,
    )
    row = AuditLog(**fields, row_hash=compute_row_hash(**fields))
    session.add(row)
    session.flush()
    return row
