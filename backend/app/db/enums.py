"""Enumerations stored in the database, by their lower-case values.

The legacy deployment stored SQLAlchemy Enum *names* in upper case (ADMIN, COMPLETED, ...). Revision
`a1c3e5f7b9d2` rewrites them to these values; `LEGACY_NAMES` keeps the old spelling of each value so the data
migration and its downgrade are driven by one table instead of hand-written CASE branches.
"""

from __future__ import annotations

import enum


class UserRole(enum.StrEnum):
    """What a user may do. `auditor` is new (read + audit log); legacy USER became `analyst`."""

    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"
    AUDITOR = "auditor"


class ScanStatus(enum.StrEnum):
    """Life cycle of a scan."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ScannerType(enum.StrEnum):
    """Which scanner produced a scan (legacy deployments ran several)."""

    BUILTIN = "builtin"
    GARAK = "garak"
    LLMTOP10 = "llmtop10"
    AGENTTOP10 = "agenttop10"
    COUNTERFIT = "counterfit"
    ART = "art"
    ALL = "all"


class Severity(enum.StrEnum):
    """Severity of a finding, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class ComplianceStatus(enum.StrEnum):
    """Outcome of one compliance requirement for one scan."""

    COMPLIANT = "compliant"
    PARTIAL = "partial"
    NON_COMPLIANT = "non_compliant"
    NOT_ASSESSED = "not_assessed"


#: Legacy upper-case name -> value, per enumeration. Frozen: the data migration is driven by it, so entries are
#: never edited; a value missing here (auditor) had no legacy spelling.
LEGACY_NAMES: dict[type[enum.StrEnum], dict[str, str]] = {
    UserRole: {"ADMIN": "admin", "USER": "analyst", "VIEWER": "viewer"},
    ScanStatus: {
        "PENDING": "pending",
        "RUNNING": "running",
        "COMPLETED": "completed",
        "FAILED": "failed",
        "CANCELLED": "cancelled",
    },
    ScannerType: {
        "BUILTIN": "builtin",
        "GARAK": "garak",
        "LLMTOP10": "llmtop10",
        "AGENTTOP10": "agenttop10",
        "COUNTERFIT": "counterfit",
        "ART": "art",
        "ALL": "all",
    },
    Severity: {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "INFO": "info"},
    ComplianceStatus: {
        "COMPLIANT": "compliant",
        "PARTIAL": "partial",
        "NON_COMPLIANT": "non_compliant",
        "NOT_ASSESSED": "not_assessed",
    },
}


class AttemptOutcome(enum.StrEnum):
    """How one attempt ended (the engine's `Outcome`, stored); never collapse these."""

    VULNERABLE = "vulnerable"
    SAFE = "safe"
    REFUSED = "refused"
    ERROR = "error"
    BLOCKED = "blocked"
    UNSCORED = "unscored"


class TriageState(enum.StrEnum):
    """A reviewer's decision about a finding, carried across scans of one target by its fingerprint."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"
    ACCEPTED_RISK = "accepted_risk"
    FIXED = "fixed"
