"""ORM models: the legacy SecureAI tables as evolved by our migrations.

The column names, types and indexes of the five legacy tables stay those of revision `6f650d08cf3d` so an
existing deployment upgrades in place; what changed (lower-case enumerations checked by the database, a
unique e-mail, roles and statuses never NULL) is done by later revisions, and `alembic check` keeps these
classes and the migrations in step. Timestamps are naive UTC, as the legacy rows are.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.enums import (
    AttemptOutcome,
    ComplianceStatus,
    ScannerType,
    ScanStatus,
    Severity,
    TriageState,
    UserRole,
)

#: Constraint names are derived, never left to the database, so migrations can address them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC now, the timestamp convention of the legacy rows."""
    return datetime.now(UTC).replace(tzinfo=None)


def db_enum(enum_class: type[enum.StrEnum], name: str, length: int = 20) -> Enum:
    """A VARCHAR column holding the enum's lower-case *values*, with a CHECK constraint named `name`.

    `validate_strings` makes the ORM refuse an unknown value before it reaches the database.
    """
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A person who signs in. Legacy passwords are bcrypt; new ones argon2id (app.auth.passwords)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    username: Mapped[str] = mapped_column(String(50), unique=True, index=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[UserRole] = mapped_column(
        db_enum(UserRole, "user_role"), default=UserRole.VIEWER, server_default=UserRole.VIEWER.value
    )
    is_active: Mapped[bool | None] = mapped_column(default=True)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    #: Bumped by a disable, a role change, a password reset and "sign out everywhere": every access token
    #: carries the epoch it was issued in, and one from an earlier epoch is refused (app.auth.service).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    scans: Mapped[list[Scan]] = relationship(back_populates="creator")


class Scan(Base):
    """One run of probes against one target; results and counters are kept for legacy readers too."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    model_name: Mapped[str] = mapped_column(String(100))
    model_type: Mapped[str] = mapped_column(String(50))
    model_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scanner_type: Mapped[ScannerType] = mapped_column(
        db_enum(ScannerType, "scanner_type", length=50),
        default=ScannerType.BUILTIN,
        server_default=ScannerType.BUILTIN.value,
    )
    status: Mapped[ScanStatus] = mapped_column(
        db_enum(ScanStatus, "scan_status"),
        index=True,
        default=ScanStatus.PENDING,
        server_default=ScanStatus.PENDING.value,
    )
    progress: Mapped[float | None] = mapped_column(Float)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    vulnerability_count: Mapped[int | None] = mapped_column(Integer)
    risk_score: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration: Mapped[int | None] = mapped_column(Integer, doc="Seconds from start to completion.")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    # platform scans (legacy rows leave these NULL)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id"), index=True)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="Probe selection, strategies, repeat, seed.")
    attempts_planned: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None] = mapped_column(doc="Last sign of life of the worker running it.")

    creator: Mapped[User] = relationship(back_populates="scans")
    target: Mapped[Target | None] = relationship(back_populates="scans")
    vulnerabilities: Mapped[list[Vulnerability]] = relationship(back_populates="scan")
    compliance_mappings: Mapped[list[ComplianceMapping]] = relationship(back_populates="scan")


class Vulnerability(Base):
    """A finding of a scan, with its evidence."""

    __tablename__ = "vulnerabilities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[Severity | None] = mapped_column(db_enum(Severity, "severity"))
    probe_name: Mapped[str | None] = mapped_column(String(100))
    probe_category: Mapped[str | None] = mapped_column(String(100))
    evidence: Mapped[str | None] = mapped_column(Text)
    remediation: Mapped[str | None] = mapped_column(Text)
    cvss_score: Mapped[float | None] = mapped_column(Float)
    extra_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # findings of platform scans (legacy rows leave these NULL)
    fingerprint: Mapped[str | None] = mapped_column(String(64), doc="Same weakness, same target: same value.")
    owasp: Mapped[str | None] = mapped_column(String(10))
    asr: Mapped[float | None] = mapped_column(Float)
    asr_low: Mapped[float | None] = mapped_column(Float)
    asr_high: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int | None] = mapped_column(Integer)
    outcome_counts: Mapped[dict[str, int] | None] = mapped_column(JSON)

    scan: Mapped[Scan] = relationship(back_populates="vulnerabilities")

    __table_args__ = (
        Index("ix_vulnerabilities_scan_id_severity", "scan_id", "severity"),
        Index("ix_vulnerabilities_severity_owasp_asr", "severity", "owasp", "asr", "id"),
        Index("ix_vulnerabilities_asr_id", "asr", "id"),
        Index("ix_vulnerabilities_fingerprint", "fingerprint"),
    )


class ComplianceMapping(Base):
    """How one scan bears on one requirement of one compliance framework."""

    __tablename__ = "compliance_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    framework: Mapped[str] = mapped_column(String(50), index=True)
    requirement_id: Mapped[str] = mapped_column(String(50))
    requirement_name: Mapped[str] = mapped_column(String(200))
    compliance_status: Mapped[ComplianceStatus | None] = mapped_column(db_enum(ComplianceStatus, "compliance_status"))
    evidence: Mapped[str | None] = mapped_column(Text)
    vulnerability_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    scan: Mapped[Scan] = relationship(back_populates="compliance_mappings")


class AuditLog(Base):
    """A security-relevant action. Legacy rows are kept as they were."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(50))
    resource_type: Mapped[str | None] = mapped_column(String(50))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # hash chain (NULL on legacy rows: the chain starts after them)
    # unique: two rows naming the same predecessor would be a fork, refused by the database itself
    prev_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class MigrationFixup(Base):
    """A legacy value that a data migration could not carry over as it was, and what it became.

    Written by the upgrade (unknown enumeration names, NULL roles, duplicate e-mails), read back by the
    downgrade to restore the original, and listed by `secureai db doctor` so an operator sees what changed.
    """

    __tablename__ = "migration_fixups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[str] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(50))
    row_id: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Target(Base):
    """An endpoint to scan: connector type, non-secret settings, and its credentials sealed at rest.

    `credentials` holds `app.core.crypto.seal` output (API key, secret headers); the API never returns it.
    """

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credentials: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    scans: Mapped[list[Scan]] = relationship(back_populates="target")


class Attempt(Base):
    """One finished attempt of a platform scan: the checkpoint a resumed scan reads."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    key: Mapped[str] = mapped_column(String(200), doc="probe:prompt:stack:repeat, stable across resumes.")
    probe_id: Mapped[str] = mapped_column(String(100))
    prompt_index: Mapped[int] = mapped_column(Integer)
    strategies: Mapped[str] = mapped_column(String(200), doc="The stack, `a+b`; `none` when unmodified.")
    repeat: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[AttemptOutcome] = mapped_column(db_enum(AttemptOutcome, "attempt_outcome"))
    turns: Mapped[list[str]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    requests_made: Mapped[int] = mapped_column(Integer, default=1)
    extra: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("scan_id", "key", name="uq_attempts_scan_id_key"),
        Index("ix_attempts_scan_id_probe_id", "scan_id", "probe_id"),
        Index("ix_attempts_scan_id_outcome", "scan_id", "outcome"),
    )


class AttackStep(Base):
    """One exchange of an adaptive attack of a platform scan, journaled the moment its reply arrived.

    A resumed scan replays these instead of sending them again (`app.engine.attacks.session.StepLog`).
    """

    __tablename__ = "attack_steps"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    attempt_key: Mapped[str] = mapped_column(String(200), doc="The attempt the step belongs to.")
    step: Mapped[str] = mapped_column(String(200), doc="Its place in the attack, e.g. s1/i2/target.")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, doc="Role, request digest and the reply.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("scan_id", "attempt_key", "step", name="uq_attack_steps_scan_id_attempt_key_step"),
    )


class FindingTriage(Base):
    """A reviewer's decision on one weakness of one target, found again in later scans by its fingerprint."""

    __tablename__ = "finding_triage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[TriageState] = mapped_column(db_enum(TriageState, "triage_state"), default=TriageState.OPEN)
    comment: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: When an accepted risk lapses (UTC); the finding counts again afterwards. NULL for the other states.
    expires_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("target_id", "fingerprint", name="uq_finding_triage_target_id_fingerprint"),)


class RefreshToken(Base):
    """A refresh token, stored as a SHA-256 digest. Rotation links tokens into a family: presenting a token
    that was already rotated is theft, and revokes the whole family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class ApiToken(Base):
    """A long-lived token for CI: shown once, stored as a digest, with a visible prefix and a role ceiling."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[UserRole] = mapped_column(db_enum(UserRole, "api_token_role"), doc="Ceiling: min(this, user's).")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins per account (`user:NAME`) and per client (`ip:ADDRESS`), and until when they are locked."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProbePack(Base):
    """One uploaded version of a user's probe pack (docs/probe-packs.md), kept as the YAML text it was.

    Uploading a pack under a name that exists adds the next `version` and makes it the name's only `active`
    one; older versions stay, so a scan that ran one can be read (and resumed) with exactly the probes it sent.
    Scans plan over the shipped packs and the active versions and record which versions they ran.
    """

    __tablename__ = "probe_packs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), doc="The pack's `pack:` name; `pack:NAME` selects its probes.")
    version: Mapped[int] = mapped_column(Integer, doc="1 for the first upload of the name, then 2, 3...")
    declared_version: Mapped[int] = mapped_column(Integer, doc="The `version:` the YAML itself declares.")
    title: Mapped[str] = mapped_column(String(200))
    probe_count: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text, doc="The YAML as uploaded.")
    digest: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the YAML text (hex).")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]
    deactivated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("name", "version", name="uq_probe_packs_name_version"),)
