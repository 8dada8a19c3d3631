"""The hash chain: which bytes of an audit row are hashed, and how.

Each chained row stores `prev_hash`, the `row_hash` of the chained row before it (`GENESIS_HASH` for the first),
and `row_hash = sha256(canonical_bytes(row))` in lower-case hex. The canonical bytes are a JSON object with
sorted keys, no spaces and ASCII-only escapes, of these fields:

    action, created_at (ISO 8601, microseconds, naive UTC), details, ip_address, prev_hash,
    resource_id, resource_type, user_agent, user_id, v (format version, 1)

The row id is left out on purpose: the hash is computed before the INSERT assigns it, and the order of the rows is
already fixed by each row naming its predecessor. Anyone can recompute a hash with a few lines of any language.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack

#: `prev_hash` of the first chained row: 64 zeros, a value no SHA-256 of real data will produce.
GENESIS_HASH = "0" * 64

#: Version of the canonical form, hashed with every row so that a future format cannot be confused with this one.
CANONICAL_VERSION = 1


def normalise_details(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`details` as the database will give it back: a JSON round trip (tuples become lists, keys strings).

    Hashing the round-tripped value makes verification independent of the driver. NaN and infinities are refused
    because they are not JSON (PostgreSQL rejects them); a value JSON cannot encode raises TypeError.
    """
    if details is None:
        return None
    normalised: dict[str, Any] = json.loads(json.dumps(details, allow_nan=False))
    return normalised


def canonical_bytes(
    *,
    prev_hash: str | None,
    user_id: int | None,
    action: str,
    resource_type: str | None,
    resource_id: int | None,
    details: Mapping[str, Any] | None,
    ip_address: str | None,
    user_agent: str | None,
    created_at: datetime | None,
) -> bytes:
    """The bytes that `row_hash` digests (see the module docstring)."""
    document = {
        "v": CANONICAL_VERSION,
        "prev_hash": prev_hash,
        "user_id": user_id,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "details": details,
        "ip_address": ip_address,
        "user_agent": user_agent,
        "created_at": created_at.isoformat(timespec="microseconds") if created_at is not None else None,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


class RowFields(TypedDict):
    """The hashed fields of an audit row, as `canonical_bytes` takes them."""

    prev_hash: str | None
    user_id: int | None
    action: str
    resource_type: str | None
    resource_id: int | None
    details: Mapping[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    created_at: datetime | None


def compute_row_hash(**fields: Unpack[RowFields]) -> str:
    """SHA-256 (hex) of the canonical bytes of a row."""
    return hashlib.sha256(canonical_bytes(**fields)).hexdigest()


class StoredRow(Protocol):
    """What a stored audit row offers to re-hash it (an ORM row or a plain result row)."""

    prev_hash: str | None
    user_id: int | None
    action: str
    resource_type: str | None
    resource_id: int | None
    details: Any
    ip_address: str | None
    user_agent: str | None
    created_at: datetime | None


def fields_of(row: StoredRow) -> RowFields:
    """The hashed fields of a stored row, to recompute its `row_hash`."""
    return RowFields(
        prev_hash=row.prev_hash,
        user_id=row.user_id,
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        details=row.details,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        created_at=row.created_at,
    )
