"""User probe packs on the platform: upload (a new version), list, read, deactivate, and the packs a scan runs.

A pack is uploaded as the YAML a user would put in a `--packs` directory (docs/probe-packs.md) and checked by the
engine's own parser (`app.engine.probes.user_packs`), so the platform and the command line accept exactly the
same packs and report the same `file:line: field: message` problems. Each upload of a name is a new row with the
next version number and becomes the name's only active version; old versions stay, because a scan records the
(name, version, digest) of every pack it ran (`scans.options.packs`) and reads that exact text back when it
resumes. A pack may not clash with the shipped packs or another active pack (pack name or probe id).

The use-cases flush and write their audit records in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.audit.log import record as audit_record
from app.db.models import ProbePack, utcnow
from app.engine.probes.registry import ProbePackError
from app.engine.probes.schema import Probe
from app.engine.probes.user_packs import (
    PackProblem,
    PackValidationError,
    UserPack,
    merge_catalogue,
    parse_pack_bytes,
    parse_pack_text,
)

__all__ = [
    "MAX_NAME",
    "MAX_VERSION",
    "PackClashError",
    "PackConflictError",
    "PackNotFoundError",
    "StoredPack",
    "UploadResult",
    "active_packs",
    "deactivate_pack",
    "pack_version",
    "pack_versions",
    "pinned_packs",
    "pins_of",
    "stored_pack",
    "stored_source",
    "upload_pack",
]

#: Longest pack name the platform stores (the column's width).
MAX_NAME = 64
#: Largest `version:` a pack may declare (the column is a 32-bit integer).
MAX_VERSION = 2_147_483_647
#: PostgreSQL advisory lock key serialising pack changes ("SecAIpk"); distinct from the audit and migration keys.
PACKS_LOCK_KEY = 0x5365_6341_4970_6B
#: What `action` the audit log records.
UPLOAD_ACTION = "pack_upload"
DEACTIVATE_ACTION = "pack_deactivate"


class PackNotFoundError(LookupError):
    """No pack (or no such version of it) on the platform."""


class PackConflictError(ValueError):
    """The pack is in a state that refuses the action (e.g. deactivating a pack with no active version)."""


class PackClashError(PackValidationError):
    """A valid pack whose name or probe ids clash with a shipped pack or another active pack."""


@dataclass(frozen=True)
class UploadResult:
    """The stored version, and whether the upload made it (False: it repeats the active version's text)."""

    row: ProbePack
    created: bool


def stored_source(name: str, version: int) -> str:
    """How problems and clash messages name a stored version: its path under /api/v1."""
    return f"packs/{name}/v{version}"


@dataclass(frozen=True)
class StoredPack:
    """A stored version of a pack, parsed."""

    name: str
    version: int
    digest: str
    pack: UserPack

    def pin(self) -> dict[str, Any]:
        """What a scan records of a pack it runs (`scans.options.packs`): the platform's version, the version the
        YAML declares and the sha256 of its text (the key `secureai scan --packs` records it under)."""
        return {
            "name": self.name,
            "version": self.version,
            "declared_version": self.pack.version,
            "sha256": self.digest,
        }


@functools.lru_cache(maxsize=16)
def _parsed(content: str, source: str) -> UserPack:
    """A stored version's text parsed once per process (the models are immutable, so sharing is safe)."""
    return parse_pack_text(content, source)


def stored_pack(row: ProbePack) -> StoredPack:
    """A stored version, parsed (once per process)."""
    return StoredPack(row.name, row.version, row.digest, _parsed(row.content, stored_source(row.name, row.version)))


def _usable(row: ProbePack) -> StoredPack | None:
    """A stored version parsed, or None when it no longer validates (a later release tightened the schema):
    such a pack is in no catalogue, so nothing can clash with it; scans name it until it is deactivated."""
    try:
        return stored_pack(row)
    except PackValidationError:
        return None


def active_rows(session: Session) -> list[ProbePack]:
    """The active version of every pack, by name."""
    return list(session.scalars(select(ProbePack).where(ProbePack.active.is_(True)).order_by(ProbePack.name)))


def active_packs(session: Session) -> list[StoredPack]:
    """The active packs, by name: what a new scan plans over besides the shipped packs. ProbePackError when one
    no longer validates (a later release tightened the schema), naming it and what to do."""
    packs = []
    for row in active_rows(session):
        try:
            packs.append(stored_pack(row))
        except PackValidationError as error:
            raise ProbePackError(
                f"the active version {row.version} of probe pack {row.name!r} no longer validates "
                f"({error.problems[0]}); deactivate it or upload it again, fixed"
            ) from None
    return packs


def pins_of(packs: Sequence[StoredPack], probes: Sequence[Probe]) -> list[dict[str, Any]]:
    """The pin of each pack that has a probe among `probes`, in the order of `packs`: which user packs a scan of
    these probes runs."""
    used = {probe.pack for probe in probes}
    return [stored.pin() for stored in packs if stored.name in used]


def pinned_packs(session: Session, pins: Sequence[dict[str, Any]] | None) -> list[StoredPack]:
    """The exact pack versions a scan recorded, in its order; ProbePackError (one line) when one is gone or its
    stored text no longer has the recorded digest."""
    packs = []
    for pin in pins or ():
        name, version, digest = pin.get("name"), pin.get("version"), pin.get("sha256")
        row = session.scalar(select(ProbePack).where(ProbePack.name == name, ProbePack.version == version))
        if row is None:
            raise ProbePackError(f"the scan ran probe pack {name!r} version {version}, which is no longer stored")
        if row.digest != digest:
            raise ProbePackError(
                f"probe pack {name!r} version {version} was changed after the scan started (its digest differs)"
            )
        packs.append(stored_pack(row))
    return packs


def _serialise(session: Session) -> None:
    """Hold pack changes one at a time until the caller's transaction ends, so two uploads cannot both pass the
    clash check or take the same version number: an advisory lock on PostgreSQL, SQLite's write lock (taken
    by a write that changes nothing) on SQLite."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PACKS_LOCK_KEY})
    else:
        session.execute(text("UPDATE probe_packs SET active = active WHERE 0 = 1"))


def _key_line(content: str, key: str) -> int | None:
    """The line of a top-level `key:` of the YAML (for the checks the schema itself does not make)."""
    found = re.search(rf"^[\"']?{key}[\"']?[ \t]*:", content, re.MULTILINE)
    return content.count("\n", 0, found.start()) + 1 if found else None


def _platform_limits(pack: UserPack, content: str) -> None:
    """What the platform's columns hold beyond the schema: a name of at most MAX_NAME characters, a declared
    version that fits a 32-bit integer."""
    problems = []
    if len(pack.pack) > MAX_NAME:
        message = f"a pack name on the platform is at most {MAX_NAME} characters (this one has {len(pack.pack)})"
        problems.append(PackProblem(pack.source, _key_line(content, "pack"), "pack", message))
    if pack.version > MAX_VERSION:
        message = f"the platform stores versions up to {MAX_VERSION}"
        problems.append(PackProblem(pack.source, _key_line(content, "version"), "version", message))
    if problems:
        raise PackValidationError(problems)


def upload_pack(
    session: Session,
    data: bytes,
    source: str,
    *,
    actor: int,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> UploadResult:
    """Store `data` (a pack's YAML, named `source` in problems) as the next version of its pack and make it the
    active one; the previous active version is deactivated. Flushed and audited, not committed.

    PackValidationError lists every problem of an invalid pack; PackClashError one whose pack name or probe ids
    are taken by a shipped pack or another active pack. A pack whose text is that of its active version is not
    stored again (`created` is False).
    """
    pack = parse_pack_bytes(data, source)
    content = data.decode("utf-8")
    _platform_limits(pack, content)
    _serialise(session)
    current = session.scalar(select(ProbePack).where(ProbePack.name == pack.pack, ProbePack.active.is_(True)))
    if current is not None and current.digest == pack.digest:
        return UploadResult(current, created=False)
    others = [usable.pack for row in active_rows(session) if row.name != pack.pack and (usable := _usable(row))]
    try:
        merge_catalogue([*others, pack])  # the new pack last: each clash is reported at its line
    except PackValidationError as error:
        name_line = _key_line(content, "pack")
        raise PackClashError(
            [
                replace(item, line=name_line) if item.field == "pack" and item.line is None else item
                for item in error.problems
            ]
        ) from None
    latest = session.scalar(select(func.max(ProbePack.version)).where(ProbePack.name == pack.pack)) or 0
    now = utcnow()
    if current is not None:
        current.active = False
        current.deactivated_at = now
        current.deactivated_by = actor
    row = ProbePack(
        name=pack.pack,
        version=latest + 1,
        declared_version=pack.version,
        title=pack.title[:200],
        probe_count=len(pack.probes),
        content=content,
        digest=pack.digest,
        active=True,
        uploaded_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    details: dict[str, Any] = {
        "name": row.name,
        "version": row.version,
        "digest": row.digest,
        "probes": row.probe_count,
        "source": source,
        "replaced_version": current.version if current is not None else None,
    }
    audit_record(
        session,
        UPLOAD_ACTION,
        user_id=actor,
        resource_type="probe_pack",
        resource_id=row.id,
        details=details,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    return UploadResult(row, created=True)


def pack_versions(session: Session, name: str) -> list[ProbePack]:
    """Every version of pack `name`, newest first; PackNotFoundError when there is none."""
    rows = list(session.scalars(select(ProbePack).where(ProbePack.name == name).order_by(ProbePack.version.desc())))
    if not rows:
        raise PackNotFoundError(f"no probe pack {name!r}")
    return rows


def pack_version(session: Session, name: str, version: int) -> ProbePack:
    """One stored version; PackNotFoundError naming what is missing."""
    row = session.scalar(select(ProbePack).where(ProbePack.name == name, ProbePack.version == version))
    if row is None:
        pack_versions(session, name)  # says "no probe pack" when the name itself is unknown
        raise PackNotFoundError(f"probe pack {name!r} has no version {version}")
    return row


def deactivate_pack(
    session: Session,
    name: str,
    *,
    actor: int,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> ProbePack:
    """Take pack `name` out of the catalogue of new scans (its versions stay, for the scans that ran them).
    PackNotFoundError for an unknown name, PackConflictError when no version of it is active. Audited."""
    _serialise(session)
    rows = pack_versions(session, name)
    current = next((row for row in rows if row.active), None)
    if current is None:
        raise PackConflictError(f"probe pack {name!r} has no active version")
    current.active = False
    current.deactivated_at = utcnow()
    current.deactivated_by = actor
    session.flush()
    audit_record(
        session,
        DEACTIVATE_ACTION,
        user_id=actor,
        resource_type="probe_pack",
        resource_id=current.id,
        details={"name": name, "version": current.version, "digest": current.digest},
        ip_address=ip_address,
        user_agent=user_agent,
    )
    return current
