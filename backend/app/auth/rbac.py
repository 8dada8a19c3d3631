"""Roles, permissions, and which role may hand out which (API-token ceilings).

The roles form a diamond, not a line: `admin` is above everything, `viewer` below everything, and `analyst`
(targets, scans, triage) and `auditor` (audit log, compliance) sit side by side, neither above the other. An
analyst must not mint a token that reads the audit log, and an auditor must not mint one that launches scans,
so "may grant" is this partial order rather than a numeric rank.
"""

from __future__ import annotations

import enum

from app.db.enums import UserRole


class Permission(enum.StrEnum):
    """What a request may do. Routes ask for one of these, never for a role."""

    READ = "read"  # targets, scans, findings, reports, compliance results
    TARGETS_WRITE = "targets:write"
    SCANS_WRITE = "scans:write"
    FINDINGS_TRIAGE = "findings:triage"
    REPORTS_EXPORT = "reports:export"
    COMPLIANCE_EXPORT = "compliance:export"
    AUDIT_READ = "audit:read"
    USERS_MANAGE = "users:manage"
    SETTINGS_MANAGE = "settings:manage"


_VIEWER = frozenset({Permission.READ})
_ANALYST = _VIEWER | {
    Permission.TARGETS_WRITE,
    Permission.SCANS_WRITE,
    Permission.FINDINGS_TRIAGE,
    Permission.REPORTS_EXPORT,
    Permission.COMPLIANCE_EXPORT,
}
_AUDITOR = _VIEWER | {Permission.AUDIT_READ, Permission.REPORTS_EXPORT, Permission.COMPLIANCE_EXPORT}

#: Role -> permissions. Admin has every permission, including ones added later.
ROLE_PERMISSIONS: dict[UserRole, frozenset[Permission]] = {
    UserRole.ADMIN: frozenset(Permission),
    UserRole.ANALYST: frozenset(_ANALYST),
    UserRole.AUDITOR: frozenset(_AUDITOR),
    UserRole.VIEWER: _VIEWER,
}

#: Role -> the roles it may grant (to an API token): itself and everything below it in the diamond.
GRANTABLE: dict[UserRole, frozenset[UserRole]] = {
    UserRole.ADMIN: frozenset(UserRole),
    UserRole.ANALYST: frozenset({UserRole.ANALYST, UserRole.VIEWER}),
    UserRole.AUDITOR: frozenset({UserRole.AUDITOR, UserRole.VIEWER}),
    UserRole.VIEWER: frozenset({UserRole.VIEWER}),
}


def has_permission(role: UserRole, permission: Permission | str) -> bool:
    """True if `role` carries `permission` (an unknown permission name is never granted)."""
    try:
        wanted = Permission(permission)
    except ValueError:
        return False
    return wanted in ROLE_PERMISSIONS[role]


def can_grant(granter: UserRole, role: UserRole) -> bool:
    """True if a user with role `granter` may give `role` to a token: never more than they hold themselves."""
    return role in GRANTABLE[granter]


def effective_role(user_role: UserRole, ceiling: UserRole) -> UserRole:
    """The role a token acts with: the highest role below both the user's current role and the token's ceiling.

    Computed per request, so demoting a user also demotes their tokens; an analyst's token when its owner has
    since become an auditor acts as a viewer (the only role below both).
    """
    common = GRANTABLE[user_role] & GRANTABLE[ceiling]
    for candidate in common:
        if common <= GRANTABLE[candidate]:
            return candidate
    raise AssertionError("the role order has no common lower bound")  # pragma: no cover - viewer is always one
