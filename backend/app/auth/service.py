"""Authentication use-cases shared by the API and the CLI: login, refresh, logout, users, API tokens.

Transactions: every function flushes its changes and leaves the commit to the caller, so that the caller can
write its audit record in the same transaction. Some refusals change state on purpose (a failed login counts
against the throttle, a reused refresh token revokes its family), and no refusal leaves anything half-done in
the session, so the rule for callers is simple: commit after a result *and* after an AuthError; roll back only
on other exceptions.

Errors: every refusal is an AuthError subclass whose message can be shown to the person who asked. Details
for the audit log (`reason`, `user_id`, ...) are attributes, never part of the message: a client must not
learn whether an account exists or why exactly its token was refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal, NoReturn

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import api_tokens, refresh, throttle
from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.auth.policy import password_problems
from app.auth.tokens import ACCESS_TOKEN_TTL, InvalidAccessTokenError, decode_access_token, issue_access_token
from app.db.enums import UserRole
from app.db.models import ApiToken, User, utcnow

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")
EMAIL_PATTERN = re.compile(r"[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+")
EMAIL_MAX_LENGTH = 255
FULL_NAME_MAX_LENGTH = 100
LOGIN_FAILED_MESSAGE = "incorrect username or password"
ADMIN_EXISTS_MESSAGE = "an administrator already exists; an administrator can add users (`secureai users create`)"


# --- errors -------------------------------------------------------------------------------------------------


class AuthError(Exception):
    """Base of every refusal; `str(error)` is fit for the end user."""


class LoginFailedError(AuthError):
    """Unknown user, wrong password or disabled account: one message for all three (no account probing)."""

    def __init__(self, reason: str, *, user_id: int | None = None, retry_after: int | None = None) -> None:
        message = LOGIN_FAILED_MESSAGE
        if retry_after:
            message += f"; too many failed attempts, try again in {retry_after} seconds"
        super().__init__(message)
        self.reason = reason  # "unknown user", "wrong password", "disabled": for the audit log only
        self.user_id = user_id
        self.retry_after = retry_after


class AccountLockedError(AuthError):
    """Too many failures for this account or address; the password was not even checked."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-in attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


class InvalidSessionError(AuthError):
    """A refresh token was refused; the client has to sign in again."""

    def __init__(self, reason: str, *, user_id: int | None = None, family_id: str | None = None) -> None:
        super().__init__("your session has ended; please sign in again")
        self.reason = reason  # "unknown", "expired", "revoked", "reuse", "user disabled"
        self.user_id = user_id
        self.family_id = family_id


class NotAuthenticatedError(AuthError):
    """A bearer token (access token or API token) was refused."""

    def __init__(self, reason: str, *, user_id: int | None = None) -> None:
        super().__init__("invalid or expired credentials")
        self.reason = reason
        self.user_id = user_id


class PasswordPolicyError(AuthError):
    """The new password breaks the policy; `problems` lists every rule, the message all of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the password " + "; it ".join(problems))
        self.problems = problems


class InvalidInputError(AuthError):
    """A username, e-mail address, name or date that cannot be used."""


class UserExistsError(AuthError):
    """The username or e-mail address is taken."""


class UserNotFoundError(AuthError):
    """No such user."""


class AdminExistsError(AuthError):
    """bootstrap_admin when an administrator already exists."""


class LastAdminError(AuthError):
    """The change would leave no active administrator, and nobody could manage users any more."""


class RoleCeilingError(AuthError):
    """An API token role above the creating user's own."""


class TokenNotFoundError(AuthError):
    """No such API token (or not one of the caller's)."""


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    """A new session. The tokens are secrets: hand them to the client, never log them."""

    user: User
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int  # seconds the access token is valid
    password_rehashed: bool = False  # a legacy or weaker hash was replaced by today's argon2id


@dataclass(frozen=True)
class LogoutResult:
    """What a logout ended (`user_id` None: the token was unknown, nothing to do)."""

    user_id: int | None
    family_id: str | None
    revoked: int


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the user, the role it acts with, and which credential (jti or token prefix)."""

    user: User
    role: UserRole
    method: Literal["access_token", "api_token"]
    credential: str


@dataclass(frozen=True)
class RoleChange:
    user: User
    old_role: UserRole
    new_role: UserRole


@dataclass(frozen=True)
class DisableResult:
    user: User
    was_active: bool
    refresh_tokens_revoked: int
    api_tokens_revoked: int


@dataclass(frozen=True)
class PasswordResetResult:
    user: User
    sessions_revoked: int


# --- login, refresh, logout ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash nobody knows the password of, verified for unknown users so that they cost the same time."""
    return hash_password(secrets.token_urlsafe(24))


def _verify(password: str, hashed: str) -> bool:
    try:
        return verify_password(password, hashed)
    except UnicodeEncodeError:  # unpaired surrogates cannot be hashed, so cannot match either
        return False


def authenticate_password(
    session: Session,
    username: str,
    password: str,
    ip: str | None = None,
    user_agent: str | None = None,
    *,
    now: datetime | None = None,
) -> LoginResult:
    """Sign in with a password: throttle, verify, upgrade a legacy hash, and start a session (access + refresh).

    Raises AccountLockedError (retry_after) before checking anything when locked, LoginFailedError otherwise.
    """
    now = now or utcnow()
    locked_for = throttle.check(session, username, ip, now=now)
    if locked_for is not None:
        raise AccountLockedError(locked_for)
    user = None if "\x00" in username else session.scalar(select(User).where(User.username == username))
    if user is None:
        _verify(password, _dummy_hash())
        _login_failed(session, username, ip, now, "unknown user", None)
    if not _verify(password, user.hashed_password):
        _login_failed(session, username, ip, now, "wrong password", user.id)
    if user.is_active is False:
        _login_failed(session, username, ip, now, "disabled", user.id)
    access_token = issue_access_token(user.id, user.role, now=now, epoch=user.session_epoch or 0)
    rehashed = needs_rehash(user.hashed_password)
    if rehashed:
        user.hashed_password = hash_password(password)
    user.last_login_at = now
    throttle.record_success(session, username)
    refresh_token = refresh.issue(session, user, ip=ip, user_agent=user_agent, now=now)
    return LoginResult(user, access_token, refresh_token, _ttl_seconds(), rehashed)


def _login_failed(
    session: Session, username: str, ip: str | None, now: datetime, reason: str, user_id: int | None
) -> NoReturn:
    retry_after = throttle.record_failure(session, username, ip, now=now)
    raise LoginFailedError(reason, user_id=user_id, retry_after=retry_after)


def _ttl_seconds() -> int:
    return int(ACCESS_TOKEN_TTL.total_seconds())


def refresh_session(
    session: Session,
    refresh_token: str,
    ip: str | None = None,
    user_agent: str | None = None,
    *,
    now: datetime | None = None,
) -> LoginResult:
    """Rotate a refresh token and issue a fresh access token; InvalidSessionError if it cannot be used.

    A reused token revokes its whole family before InvalidSessionError (reason "reuse") is raised: commit it.
    """
    now = now or utcnow()
    try:
        user, successor = refresh.rotate(session, refresh_token, ip=ip, user_agent=user_agent, now=now)
    except refresh.RefreshTokenError as error:
        raise InvalidSessionError(error.reason, user_id=error.user_id, family_id=error.family_id) from None
    access_token = issue_access_token(user.id, user.role, now=now, epoch=user.session_epoch or 0)
    return LoginResult(user, access_token, successor, _ttl_seconds())


def logout(session: Session, refresh_token: str, *, now: datetime | None = None) -> LogoutResult:
    """End the session (token family) of `refresh_token`; an unknown token is not an error, logout is idempotent."""
    row = refresh.find(session, refresh_token)
    if row is None:
        return LogoutResult(None, None, 0)
    revoked = refresh.revoke_family(session, row.family_id, refresh.REASON_LOGOUT, now=now)
    return LogoutResult(row.user_id, row.family_id, revoked)


def end_sessions(user: User) -> None:
    """Move `user` to a new session epoch: every access token issued until now is refused from now on.

    Refresh tokens are revoked by the callers (with the reason they have); this makes the short-lived access
    tokens die with them instead of living out their minutes, and keeps them dead if the account comes back.
    """
    user.session_epoch = (user.session_epoch or 0) + 1


def authenticate_bearer(session: Session, token: str, *, now: datetime | None = None) -> Principal:
    """Resolve the `Authorization: Bearer` credential of a request: an API token (`sai_...`) or an access token.

    The user is read from the database on every request, so a disabled user is locked out at once (the `role`
    claim is informational); access tokens issued before the latest disable, role change or password reset (an
    older session epoch) are refused, also once the account is enabled again.
    """
    if token.startswith(f"{api_tokens.TOKEN_SCHEME}_"):
        return _api_token_principal(session, token, now)
    return _access_token_principal(session, token)


def _api_token_principal(session: Session, token: str, now: datetime | None) -> Principal:
    try:
        user, role = api_tokens.authenticate(session, token, now=now)
    except api_tokens.InvalidApiTokenError as error:
        raise NotAuthenticatedError(f"api token {error.reason}") from None
    return Principal(user, role, "api_token", api_tokens.parse_prefix(token) or "")


def _access_token_principal(session: Session, token: str) -> Principal:
    try:
        claims = decode_access_token(token)
    except InvalidAccessTokenError as error:
        raise NotAuthenticatedError(error.reason) from None
    user = session.get(User, claims.user_id)
    if user is None or user.is_active is False:
        raise NotAuthenticatedError("user unknown or disabled", user_id=claims.user_id)
    if user.password_changed_at and claims.issued_at < user.password_changed_at.replace(microsecond=0):
        raise NotAuthenticatedError("issued before the password was changed", user_id=user.id)
    if claims.epoch != (user.session_epoch or 0):
        raise NotAuthenticatedError("issued before the sessions were ended", user_id=user.id)
    return Principal(user, user.role, "access_token", claims.jti)


# --- users --------------------------------------------------------------------------------------------------


def get_user(session: Session, username: str) -> User:
    """The user called `username` (exact spelling), or UserNotFoundError."""
    user = session.scalar(select(User).where(User.username == username)) if "\x00" not in username else None
    if user is None:
        raise UserNotFoundError(f"no user named {username!r}")
    return user


def list_users(session: Session) -> list[User]:
    """All users, in the order they were created."""
    return list(session.scalars(select(User).order_by(User.id)))


def _validated(username: str, email: str, full_name: str | None) -> tuple[str, str, str | None]:
    username, email = username.strip(), email.strip()
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInputError(
            "a username is 1 to 50 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    if len(email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        raise InvalidInputError(f"{email!r} is not an e-mail address")
    if full_name is not None:
        full_name = full_name.strip() or None
        if full_name and (len(full_name) > FULL_NAME_MAX_LENGTH or "\x00" in full_name):
            raise InvalidInputError(f"a full name is at most {FULL_NAME_MAX_LENGTH} characters")
    return username, email, full_name


def _check_password(password: str, username: str, email: str) -> None:
    problems = password_problems(password, username=username, email=email)
    if problems:
        raise PasswordPolicyError(problems)


def create_user(
    session: Session,
    username: str,
    email: str,
    password: str,
    role: UserRole = UserRole.VIEWER,
    *,
    full_name: str | None = None,
    now: datetime | None = None,
) -> User:
    """Create an active user; usernames and e-mail addresses are unique regardless of letter case.

    If a concurrent request takes the name between our check and our insert, the session is rolled back
    (the database refused the row) and UserExistsError is raised.
    """
    now = now or utcnow()
    username, email, full_name = _validated(username, email, full_name)
    _check_password(password, username, email)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())) is not None:
        raise UserExistsError(f"a user named {username!r} already exists")
    if session.scalar(select(User.id).where(func.lower(User.email) == email.lower())) is not None:
        raise UserExistsError(f"the e-mail address {email!r} is already used by another user")
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        hashed_password=hash_password(password),
        role=role,
        is_active=True,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise UserExistsError(f"a user named {username!r} or with that e-mail address already exists") from None
    return user


def admin_exists(session: Session) -> bool:
    """True once any administrator exists, active or not (then bootstrap_admin refuses)."""
    return session.scalar(select(User.id).where(User.role == UserRole.ADMIN).limit(1)) is not None


def bootstrap_admin(session: Session, username: str, email: str, password: str, *, now: datetime | None = None) -> User:
    """First run: create the first administrator. Refused once any administrator exists, even a disabled one."""
    if admin_exists(session):
        raise AdminExistsError(ADMIN_EXISTS_MESSAGE)
    return create_user(session, username, email, password, UserRole.ADMIN, now=now)


def _is_active_admin(user: User) -> bool:
    return user.role == UserRole.ADMIN and user.is_active is not False


def _ensure_another_admin(session: Session, user: User) -> None:
    """Refuse to remove the last active admin, also when two admins demote each other at the same moment.

    PostgreSQL: the active admin rows are locked in id order, so the second change waits for the first to
    commit, then sees itself as the last admin. SQLite has no row locks and reads outside a transaction, so a
    no-op write first takes the database's write lock until commit, with the same effect.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(updated_at=User.updated_at)
            .execution_options(synchronize_session=False)
        )
    active = or_(User.is_active.is_(None), User.is_active.is_(True))
    admins = session.scalars(
        select(User.id).where(User.role == UserRole.ADMIN, active).order_by(User.id).with_for_update()
    ).all()
    if not [admin_id for admin_id in admins if admin_id != user.id]:
        raise LastAdminError(f"{user.username!r} is the last active administrator; make someone else admin first")


def set_role(session: Session, user: User, role: UserRole, *, now: datetime | None = None) -> RoleChange:
    """Change a user's role: their sessions end (they sign in again with the new role), and each of their API
    tokens is lowered for good to what it can still act as, so promoting them again later does not hand the old
    power back to tokens made before."""
    old = user.role
    if role == old:
        return RoleChange(user, old, role)
    if _is_active_admin(user) and role != UserRole.ADMIN:
        _ensure_another_admin(session, user)
    user.role = role
    end_sessions(user)
    refresh.revoke_all_for_user(session, user.id, "role_change", now=now)
    api_tokens.clamp_to_role(session, user.id, role)
    session.flush()
    return RoleChange(user, old, role)


def disable(session: Session, user: User, *, now: datetime | None = None) -> DisableResult:
    """Disable an account: no login, and every session and API token of it is revoked (for good)."""
    if _is_active_admin(user):
        _ensure_another_admin(session, user)
    was_active = user.is_active is not False
    user.is_active = False
    end_sessions(user)
    session.flush()
    sessions = refresh.revoke_all_for_user(session, user.id, "disabled", now=now)
    tokens = api_tokens.revoke_all_for_user(session, user.id, now=now)
    return DisableResult(user, was_active, sessions, tokens)


def enable(session: Session, user: User) -> bool:
    """Re-enable an account and lift any lockout; returns whether it was disabled. Revoked tokens stay revoked."""
    was_disabled = user.is_active is False
    user.is_active = True
    throttle.clear(session, user.username)
    session.flush()
    return was_disabled


def reset_password(
    session: Session, user: User, new_password: str, *, now: datetime | None = None
) -> PasswordResetResult:
    """Set a new password: policy checked, every session ended, lockout lifted. API tokens are kept."""
    now = now or utcnow()
    _check_password(new_password, user.username, user.email)
    user.hashed_password = hash_password(new_password)
    user.password_changed_at = now
    end_sessions(user)
    revoked = refresh.revoke_all_for_user(session, user.id, "password_reset", now=now)
    throttle.clear(session, user.username)
    session.flush()
    return PasswordResetResult(user, revoked)


# --- API tokens ---------------------------------------------------------------------------------------------


def create_api_token(
    session: Session,
    user: User,
    name: str,
    role: UserRole,
    expires_at: datetime | None = None,
    *,
    now: datetime | None = None,
) -> api_tokens.CreatedApiToken:
    """A new API token for `user`, at most their role; `.token` is shown once and never stored."""
    try:
        return api_tokens.create(session, user, name, role, expires_at, now=now)
    except api_tokens.ApiTokenCeilingError as error:
        raise RoleCeilingError(str(error)) from None
    except api_tokens.ApiTokenRequestError as error:
        raise InvalidInputError(str(error)) from None


def list_api_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    """API tokens of `user` (all users' if None), revoked and expired ones included."""
    return api_tokens.list_tokens(session, user_id=user.id if user else None)


def revoke_api_token(
    session: Session, token_id: int, *, owner: User | None = None, now: datetime | None = None
) -> ApiToken:
    """Revoke a token; with `owner`, only one of theirs (TokenNotFoundError otherwise, as for an unknown id)."""
    try:
        return api_tokens.revoke(session, token_id, user_id=owner.id if owner else None, now=now)
    except api_tokens.ApiTokenNotFoundError as error:
        raise TokenNotFoundError(str(error)) from None
