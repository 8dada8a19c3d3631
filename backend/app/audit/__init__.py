"""The tamper-evident audit log: every row is hash-chained to the one before it (see docs/audit.md).

`record` appends a row inside the caller's transaction, `verify_chain` finds the first row that breaks the chain,
`redact` is what keeps secrets out of the rows in the first place.
"""

from app.audit.chain import GENESIS_HASH, compute_row_hash
from app.audit.log import record
from app.audit.redact import REDACTED, redact
from app.audit.verify import VerifyResult, verify_chain

__all__ = ["GENESIS_HASH", "REDACTED", "VerifyResult", "compute_row_hash", "record", "redact", "verify_chain"]
