"""Walk the audit log in id order and find the first row that breaks the hash chain.

Rows are read in keyset-paginated batches of plain tuples (no ORM identity map), so memory stays flat however
long the log is. Rows with NULL hashes *before* the first chained row are legacy rows: counted, not checked. From
the first chained row on, every row must carry a hash that matches its content, and must name the previous
chained row's hash as its `prev_hash` (`GENESIS_HASH` for the first).

What a break means, by the first check that fails on a row:

- `ALTERED`: the row's content no longer matches its `row_hash`; this row was modified after it was written.
- `LINK`: the row's `prev_hash` is not the previous row's hash; a row before it was removed (or the rows were
  reordered, or the previous row was rewritten together with its hash).
- `UNCHAINED`: a row without hashes after the chain started; it was inserted without going through
  `app.audit.log.record`.

The chain proves that rows were not changed *relative to each other*. Someone able to rewrite the table could
drop the newest rows or rebuild the whole tail; keep `last_hash` somewhere else (a ticket, a log shipper) and
compare it later to detect that too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.chain import GENESIS_HASH, compute_row_hash, fields_of
from app.db.models import AuditLog

#: Reasons, the start of `VerifyResult.reason` (the rest names the hashes involved).
ALTERED = "row altered: its content no longer matches its row_hash"
LINK = "chain link broken: prev_hash does not match the previous chained row (a row before it was removed or reordered)"
UNCHAINED = "row inserted without the chain: it has no hashes but comes after the chain started"
PARTIAL = "row altered: only one of prev_hash and row_hash is set"
MISSING_ANCHOR = "the anchor hash is not in the chain: rows up to it were removed or the chain was rebuilt"

#: Rows read per query.
BATCH_SIZE = 1000


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on the audit log; when broken, `first_broken_id` and `reason` say where and why."""

    ok: bool
    legacy_rows: int
    chained_rows: int
    first_broken_id: int | None = None
    reason: str | None = None
    #: `row_hash` of the last chained row checked (the newest when ok); note it to detect a truncated tail later.
    last_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, for `secureai audit verify --json` and the API."""
        return asdict(self)


def verify_chain(session: Session, *, anchor: str | None = None, batch_size: int = BATCH_SIZE) -> VerifyResult:
    """Check the whole chain and return the first break, if any (see the module docstring).

    `anchor`, a `row_hash` noted earlier, must be found on an intact row, else the result is not ok (with no
    `first_broken_id`): this catches what the chain alone cannot, a removed or rebuilt tail.
    """
    table = AuditLog.__table__
    columns = select(
        table.c.id,
        table.c.prev_hash,
        table.c.row_hash,
        table.c.user_id,
        table.c.action,
        table.c.resource_type,
        table.c.resource_id,
        table.c.details,
        table.c.ip_address,
        table.c.user_agent,
        table.c.created_at,
    ).order_by(table.c.id)
    legacy = chained = 0
    expected_prev: str | None = None  # None until the first chained row
    last_id: int | None = None
    anchor_found = anchor is None

    def broken(row_id: int, reason: str) -> VerifyResult:
        return VerifyResult(False, legacy, chained, row_id, reason, expected_prev if chained else None)

    while True:
        query = columns if last_id is None else columns.where(table.c.id > last_id)
        rows = session.execute(query.limit(batch_size)).all()
        if not rows:
            break
        for row in rows:
            if row.prev_hash is None and row.row_hash is None:
                if expected_prev is not None:
                    return broken(row.id, UNCHAINED)
                legacy += 1
                continue
            if expected_prev is None:
                expected_prev = GENESIS_HASH
            if row.prev_hash is None or row.row_hash is None:
                return broken(row.id, PARTIAL)
            recomputed = compute_row_hash(**fields_of(row))
            if recomputed != row.row_hash:
                return broken(row.id, f"{ALTERED} (stored {row.row_hash[:12]}..., computed {recomputed[:12]}...)")
            if row.prev_hash != expected_prev:
                return broken(row.id, f"{LINK} (prev_hash {row.prev_hash[:12]}..., expected {expected_prev[:12]}...)")
            expected_prev = row.row_hash
            chained += 1
            anchor_found = anchor_found or row.row_hash == anchor
        last_id = rows[-1].id
    last_hash = expected_prev if chained else None
    if not anchor_found:
        return VerifyResult(False, legacy, chained, reason=MISSING_ANCHOR, last_hash=last_hash)
    return VerifyResult(True, legacy, chained, last_hash=last_hash)
