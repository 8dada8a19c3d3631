"""An anchor file: what the last successful verification saw, kept outside the database (docs/audit.md).

The hash chain proves rows were not changed relative to each other, but not that none are missing at the end:
an emptied or cut table is still a valid (shorter) chain. `secureai audit verify --anchor-file F` therefore
writes, after each successful verification, the number of chained rows and the last `row_hash` to F, and on the
next run fails unless the chain still holds that hash and is at least that long. The file proves nothing about
rows written after it was last updated, and nothing at all if whoever can rewrite the table can rewrite the file
too: keep it where the database's users cannot write (another machine, a write-once store, a ticket).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.audit.verify import VerifyResult

ANCHOR_VERSION = 1
SHORTER = "the chain is shorter than at the last verification: rows were removed from its end or it was emptied"


class AnchorFileError(Exception):
    """The anchor file cannot be read or written; the message is one line for the operator."""


@dataclass(frozen=True)
class Anchor:
    """What a successful verification saw: how many chained rows, the newest row_hash, and when."""

    chained_rows: int
    last_hash: str | None
    verified_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": ANCHOR_VERSION,
            "chained_rows": self.chained_rows,
            "last_hash": self.last_hash,
            "verified_at": self.verified_at,
        }


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(char in "0123456789abcdef" for char in value)


def read_anchor(path: Path) -> Anchor | None:
    """The anchor kept in `path`, or None when there is no such file yet; AnchorFileError if it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AnchorFileError(f"cannot read the anchor file {path}: {error.strerror}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("version") != ANCHOR_VERSION:
        raise AnchorFileError(f"{path} is not a SecureAI audit anchor file (version {ANCHOR_VERSION})")
    count, last_hash, verified_at = data.get("chained_rows"), data.get("last_hash"), data.get("verified_at")
    damaged = AnchorFileError(f"the anchor file {path} is damaged: chained_rows, last_hash or verified_at is wrong")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(verified_at, str):
        raise damaged
    if not ((last_hash is None and count == 0) or (_is_hash(last_hash) and count > 0)):
        raise damaged
    return Anchor(count, last_hash, verified_at)


def check(anchor: Anchor, result: VerifyResult) -> VerifyResult:
    """`result` (from verify_chain with anchor=anchor.last_hash) made a failure if the chain got shorter."""
    if result.ok and result.chained_rows < anchor.chained_rows:
        reason = f"{SHORTER} ({result.chained_rows} chained rows now, {anchor.chained_rows} at {anchor.verified_at})"
        return replace(result, ok=False, reason=reason)
    return result


def write_anchor(path: Path, result: VerifyResult, *, now: datetime | None = None) -> Anchor:
    """Replace `path` atomically with the anchor of a successful `result`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    anchor = Anchor(result.chained_rows, result.last_hash, moment.isoformat(timespec="seconds"))
    directory = path.parent if str(path.parent) else Path()
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as error:
        raise AnchorFileError(f"cannot write the anchor file {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(anchor.as_dict(), stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise AnchorFileError(f"cannot write the anchor file {path}: {error.strerror}") from None
    return anchor
