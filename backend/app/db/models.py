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

from sqlalchemy import JSON, Enum, Float, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.enums import ComplianceStatus, ScannerType, ScanStatus, Severity, UserRole

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

    creator: Mapped[User] = relationship(back_populates="scans")
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

    scan: Mapped[Scan] = relationship(back_populates="vulnerabilities")


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
