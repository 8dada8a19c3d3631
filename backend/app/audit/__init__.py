"""The tamper-evident audit log: every row is hash-chained to the one before it (see docs/audit.md).

`log.record` appends a row inside the caller's transaction, `verify.verify_chain` finds the first row that breaks
the chain, `redact.redact` is what keeps secrets out of the rows in the first place, `chain` computes the hashes.
The package itself imports nothing: `redact` serves the scanner and the report renderers, which must not load the
database models that `log` needs.
"""
