"""The authentication use-cases against real SQLite and PostgreSQL databases.

Each test commits where the API would (after a result and after an AuthError) and reads back through a fresh
session where it matters that a change survived the commit, e.g. a failed login's count or a revoked family.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import bcrypt
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.auth import api_tokens, refresh, service, throttle
from app.auth.passwords import verify_password
from app.auth.service import (
    AccountLockedError,
    AdminExistsError,
    InvalidInputError,
    InvalidSessionError,
    LastAdminError,
    LoginFailedError,
    NotAuthenticatedError,
    PasswordPolicyError,
    RoleCeilingError,
    TokenNotFoundError,
    UserExistsError,
)
from app.auth.tokens import decode_access_token
from app.config import get_settings
from app.db.enums import UserRole
from app.db.migrate import upgrade
from app.db.models import ApiToken, LoginThrottle, RefreshToken, User, utcnow
from app.db.session import make_engine

PASSWORD = "Sturdy-Passphrase-42"
IP = "198.51.100.7"
UA = "pytest-agent/1.0"


@pytest.fixture
def engine(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("SECUREAI_SECRET_KEY", "5OwahSa-J2y6GzZVwitv2QCNYDloYCNiCjP2d8MdJlTz9cvrKp-gcOaK-1f_dJWJ")
    get_settings.cache_clear()
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def make_user(session: Session, username: str = "alice", role: UserRole = UserRole.ANALYST) -> User:
    user = service.create_user(session, username, f"{username}@example.com", PASSWORD, role)
    session.commit()
    return user


def login(session: Session, username: str = "alice", password: str = PASSWORD, **kwargs: Any) -> service.LoginResult:
    """A login as the API performs it: commit whatever happened, then re-raise a refusal."""
    try:
        result = service.authenticate_password(session, username, password, kwargs.pop("ip", IP), UA, **kwargs)
    except service.AuthError:
        session.commit()
        raise
    session.commit()
    return result


def refresh_with(session: Session, token: str, **kwargs: Any) -> service.LoginResult:
    try:
        result = service.refresh_session(session, token, IP, UA, **kwargs)
    except service.AuthError:
        session.commit()
        raise
    session.commit()
    return result


def raw_rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}"))]


# --- login ----------------------------------------------------------------------------------------------------


def test_login_issues_an_access_token_and_a_refresh_token(session: Session, engine: Engine) -> None:
    user = make_user(session)
    result = login(session)
    claims = decode_access_token(result.access_token)
    assert (claims.user_id, claims.role) == (user.id, UserRole.ANALYST)
    assert result.expires_in == 900 and not result.password_rehashed
    assert PASSWORD not in repr(result) and result.access_token not in repr(result)
    with Session(engine) as fresh:
        stored = fresh.scalars(select(RefreshToken)).one()
        assert stored.token_hash == hashlib.sha256(result.refresh_token.encode()).hexdigest()
        assert (stored.user_id, stored.ip_address, stored.user_agent) == (user.id, IP, UA)
        assert stored.expires_at - stored.issued_at == timedelta(days=14)
        assert fresh.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]
    assert not any(result.refresh_token in str(row) for row in raw_rows(engine, "refresh_tokens"))
    principal = service.authenticate_bearer(session, result.access_token)
    assert (principal.user.id, principal.role, principal.method) == (user.id, UserRole.ANALYST, "access_token")


def test_a_legacy_bcrypt_user_logs_in_and_is_rehashed_to_argon2id(session: Session, engine: Engine) -> None:
    legacy_hash = bcrypt.hashpw(b"legacy-password-1", bcrypt.gensalt(rounds=4)).decode()
    session.add(User(username="old", email="old@example.com", hashed_password=legacy_hash, is_active=None))
    session.commit()
    first = login(session, "old", "legacy-password-1")
    assert first.password_rehashed
    with Session(engine) as fresh:
        stored = fresh.scalars(select(User).where(User.username == "old")).one().hashed_password
    assert stored.startswith("$argon2id$") and stored != legacy_hash
    assert not login(session, "old", "legacy-password-1").password_rehashed
    with pytest.raises(LoginFailedError):
        login(session, "old", "legacy-password-2")


def test_wrong_password_and_unknown_user_get_the_same_answer_and_cost(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(session)
    verified: list[str] = []

    def counting_verify(password: str, hashed: str) -> bool:
        verified.append(hashed)
        return verify_password(password, hashed)

    monkeypatch.setattr("app.auth.service.verify_password", counting_verify)
    with pytest.raises(LoginFailedError) as wrong:
        login(session, "alice", "Not-The-Password-1")
    with pytest.raises(LoginFailedError) as unknown:
        login(session, "mallory", "Not-The-Password-1")
    assert str(wrong.value) == str(unknown.value) == "incorrect username or password"
    assert (wrong.value.reason, unknown.value.reason) == ("wrong password", "unknown user")
    assert unknown.value.user_id is None
    assert len(verified) == 2 and verified[1].startswith("$argon2id$")  # a real hash was checked for mallory too


def test_a_disabled_user_cannot_log_in_even_with_the_right_password(session: Session) -> None:
    user = make_user(session)
    user.is_active = False
    session.commit()
    with pytest.raises(LoginFailedError, match=r"^incorrect username or password$") as caught:
        login(session)
    assert caught.value.reason == "disabled"


# --- lockout --------------------------------------------------------------------------------------------------


def test_five_failures_lock_the_account_with_doubling_backoff(session: Session, engine: Engine) -> None:
    make_user(session)
    start = utcnow()
    for attempt in range(4):
        with pytest.raises(LoginFailedError) as caught:
            login(session, password="wrong-password-guess", now=start + timedelta(seconds=attempt))
        assert caught.value.retry_after is None
    with pytest.raises(LoginFailedError, match="try again in 30 seconds") as caught:
        login(session, password="wrong-password-guess", now=start + timedelta(seconds=4))
    assert caught.value.retry_after == 30
    with Session(engine) as fresh:  # the count survived the refusal
        assert fresh.get(LoginThrottle, "user:alice").failures == 5  # type: ignore[union-attr]
    # locked: even the right password is not checked, and the answer says how long to wait
    with pytest.raises(AccountLockedError) as locked:
        login(session, now=start + timedelta(seconds=14))
    assert locked.value.retry_after == 20
    # another address does not help: the account itself is locked
    with pytest.raises(AccountLockedError):
        login(session, ip="192.0.2.1", now=start + timedelta(seconds=14))
    # after the lock, one more failure locks for twice as long
    with pytest.raises(LoginFailedError) as caught:
        login(session, password="wrong-password-guess", now=start + timedelta(seconds=35))
    assert caught.value.retry_after == 60
    assert login(session, now=start + timedelta(seconds=96)).user.username == "alice"


def test_unknown_accounts_lock_exactly_like_real_ones(session: Session) -> None:
    make_user(session)
    answers = {}
    for username in ("alice", "ghost"):
        start = utcnow()
        for attempt in range(5):
            with pytest.raises(LoginFailedError) as caught:
                login(session, username, "wrong-password-guess", ip=f"192.0.2.{attempt}", now=start)
        with pytest.raises(AccountLockedError) as locked:
            login(session, username, "wrong-password-guess", now=start + timedelta(seconds=1))
        answers[username] = (str(caught.value), str(locked.value))
    assert answers["alice"] == answers["ghost"]


def test_a_success_resets_the_account_counter(session: Session) -> None:
    make_user(session)
    now = utcnow()
    for _ in range(4):
        with pytest.raises(LoginFailedError):
            login(session, password="wrong-password-guess", now=now)
    login(session, now=now)
    for _ in range(4):
        with pytest.raises(LoginFailedError) as caught:
            login(session, password="wrong-password-guess", now=now)
    assert caught.value.retry_after is None


def test_failures_are_forgotten_after_a_quiet_hour(session: Session) -> None:
    make_user(session)
    now = utcnow()
    for _ in range(4):
        with pytest.raises(LoginFailedError):
            login(session, password="wrong-password-guess", now=now)
    with pytest.raises(LoginFailedError) as caught:
        login(session, password="wrong-password-guess", now=now + timedelta(hours=2))
    assert caught.value.retry_after is None


def test_one_address_guessing_across_many_usernames_is_locked_out(session: Session) -> None:
    make_user(session)
    now = utcnow()
    sprayer = "203.0.113.9"
    for n in range(throttle.DEFAULT_POLICY.ip_failures - 1):  # cheap: the counter, without 19 password hashes
        throttle.record_failure(session, f"user{n}", sprayer, now=now)
    session.commit()
    with pytest.raises(LoginFailedError) as caught:
        login(session, "one-more-name", "Summer2025!", ip=sprayer, now=now)
    assert caught.value.retry_after == 30
    with pytest.raises(AccountLockedError):  # the right password of a real user, from the sprayer's address
        login(session, ip=sprayer, now=now + timedelta(seconds=1))
    assert login(session, ip="198.51.100.200", now=now + timedelta(seconds=1)).user.username == "alice"


def test_addresses_are_grouped_into_throttle_keys() -> None:
    assert throttle.ip_key("2001:db8::1") == throttle.ip_key("2001:db8::ffff:1") == "ip:2001:db8::/64"
    assert throttle.ip_key("2001:db8:0:1::1") != throttle.ip_key("2001:db8::1")
    assert throttle.ip_key("::ffff:192.0.2.1") == throttle.ip_key("192.0.2.1") == "ip:192.0.2.1"
    assert throttle.ip_key(None) is None
    assert throttle.account_key("Alice") == throttle.account_key("alice") == "user:alice"


# --- refresh tokens -------------------------------------------------------------------------------------------


def test_refresh_rotates_within_the_family(session: Session, engine: Engine) -> None:
    user = make_user(session)
    first = login(session)
    second = refresh_with(session, first.refresh_token)
    third = refresh_with(session, second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert decode_access_token(third.access_token).user_id == user.id
    with Session(engine) as fresh:
        rows = fresh.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
    assert len({row.family_id for row in rows}) == 1
    assert [row.rotated_at is not None for row in rows] == [True, True, False]
    assert all(row.revoked_at is None for row in rows)


def test_a_reused_refresh_token_revokes_the_whole_family(session: Session, engine: Engine) -> None:
    make_user(session)
    other_device = login(session)
    first = login(session)
    successor = refresh_with(session, first.refresh_token)
    with pytest.raises(InvalidSessionError) as caught:  # the old token again: someone copied it
        refresh_with(session, first.refresh_token)
    assert caught.value.reason == "reuse" and caught.value.user_id == successor.user.id
    assert str(caught.value) == "your session has ended; please sign in again"
    with pytest.raises(InvalidSessionError) as caught:  # and the legitimate-looking successor dies with it
        refresh_with(session, successor.refresh_token)
    assert caught.value.reason == "revoked"
    with Session(engine) as fresh:
        family = fresh.scalars(select(RefreshToken).where(RefreshToken.family_id == caught.value.family_id)).all()
    assert len(family) == 2 and {row.revoked_reason for row in family} == {"reuse"}
    refresh_with(session, other_device.refresh_token)  # another login's family is untouched


def test_of_two_concurrent_refreshes_with_one_token_only_one_wins(session: Session, engine: Engine) -> None:
    """B read the token before A rotated it, so B's copy looks fresh; the atomic claim still refuses B."""
    make_user(session)
    token = login(session).refresh_token
    with Session(engine, expire_on_commit=False) as racer:
        stale = refresh.find(racer, token)  # B loads the row while it is still unrotated (and keeps it)...
        racer.commit()
        refresh_with(session, token)  # ...A rotates it...
        assert stale is not None and stale.rotated_at is None
        with pytest.raises(refresh.RefreshTokenReuseError):  # ...and B, acting on its stale copy, loses
            refresh.rotate(racer, token)
        racer.commit()
    with Session(engine) as fresh:
        assert {row.revoked_reason for row in fresh.scalars(select(RefreshToken))} == {"reuse"}


def test_expired_and_unknown_refresh_tokens_are_refused(session: Session) -> None:
    make_user(session)
    result = login(session)
    with pytest.raises(InvalidSessionError) as caught:
        refresh_with(session, result.refresh_token, now=utcnow() + timedelta(days=14, seconds=1))
    assert caught.value.reason == "expired"
    with pytest.raises(InvalidSessionError) as caught:
        refresh_with(session, "x" * 43)
    assert caught.value.reason == "unknown"
    refresh_with(session, result.refresh_token)  # expiry did not consume it


def test_logout_revokes_the_session(session: Session) -> None:
    user = make_user(session)
    result = login(session)
    successor = refresh_with(session, result.refresh_token)
    ended = service.logout(session, successor.refresh_token)
    session.commit()
    assert (ended.user_id, ended.revoked) == (user.id, 2)
    with pytest.raises(InvalidSessionError) as caught:
        refresh_with(session, successor.refresh_token)
    assert caught.value.reason == "revoked"
    assert service.logout(session, "never-issued") == service.LogoutResult(None, None, 0)


# --- users ----------------------------------------------------------------------------------------------------


def test_disable_ends_sessions_and_api_tokens(session: Session) -> None:
    admin = make_user(session, "root", UserRole.ADMIN)
    user = make_user(session)
    result = login(session)
    token = service.create_api_token(session, user, "ci", UserRole.ANALYST).token
    session.commit()
    disabled = service.disable(session, user)
    session.commit()
    assert (disabled.was_active, disabled.refresh_tokens_revoked, disabled.api_tokens_revoked) == (True, 1, 1)
    with pytest.raises(InvalidSessionError):
        refresh_with(session, result.refresh_token)
    with pytest.raises(NotAuthenticatedError):
        service.authenticate_bearer(session, token)
    with pytest.raises(NotAuthenticatedError):  # a 15-minute access token stops working at once too
        service.authenticate_bearer(session, result.access_token)
    with pytest.raises(LoginFailedError):
        login(session)
    assert service.enable(session, user) is True
    session.commit()
    login(session)
    with pytest.raises(NotAuthenticatedError):  # re-enabling does not bring revoked tokens back
        service.authenticate_bearer(session, token)
    assert admin.is_active


def test_the_last_active_admin_cannot_be_demoted_or_disabled(session: Session) -> None:
    admin = service.bootstrap_admin(session, "root", "root@example.com", PASSWORD)
    session.commit()
    with pytest.raises(LastAdminError):
        service.set_role(session, admin, UserRole.VIEWER)
    with pytest.raises(LastAdminError):
        service.disable(session, admin)
    second = make_user(session, "deputy", UserRole.ADMIN)
    change = service.set_role(session, admin, UserRole.AUDITOR)
    session.commit()
    assert (change.old_role, change.new_role) == (UserRole.ADMIN, UserRole.AUDITOR)
    with pytest.raises(LastAdminError):
        service.disable(session, second)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(session: Session, engine: Engine) -> None:
    make_user(session, "a1", UserRole.ADMIN)
    make_user(session, "a2", UserRole.ADMIN)
    outcome: list[str] = []

    def second_admin_demotes_itself() -> None:
        with Session(engine) as other:
            try:
                service.set_role(other, service.get_user(other, "a2"), UserRole.VIEWER)
                other.commit()
                outcome.append("demoted")
            except LastAdminError:
                outcome.append("refused")

    service.set_role(session, service.get_user(session, "a1"), UserRole.VIEWER)  # not committed yet
    racer = threading.Thread(target=second_admin_demotes_itself)
    racer.start()
    racer.join(timeout=0.5)  # it must wait for our commit instead of reading the admins as they were
    session.commit()
    racer.join(timeout=10)
    assert outcome == ["refused"]
    assert [user.username for user in service.list_users(session) if user.role == UserRole.ADMIN] == ["a2"]


def test_bootstrap_admin_works_only_once(session: Session) -> None:
    make_user(session)  # an analyst does not count
    admin = service.bootstrap_admin(session, "root", "root@example.com", PASSWORD)
    session.commit()
    assert admin.role == UserRole.ADMIN
    admin.is_active = False  # a disabled admin still counts: re-enable it instead
    session.commit()
    with pytest.raises(AdminExistsError):
        service.bootstrap_admin(session, "root2", "root2@example.com", PASSWORD)


def test_create_user_checks_names_addresses_and_the_policy(session: Session) -> None:
    make_user(session)
    with pytest.raises(UserExistsError, match="'ALICE' already exists"):
        service.create_user(session, "ALICE", "other@example.com", PASSWORD)
    with pytest.raises(UserExistsError, match="e-mail address"):
        service.create_user(session, "bob", "Alice@Example.com", PASSWORD)
    with pytest.raises(InvalidInputError, match="username"):
        service.create_user(session, "bob smith", "bob@example.com", PASSWORD)
    with pytest.raises(InvalidInputError, match="e-mail"):
        service.create_user(session, "bob", "bob-at-example.com", PASSWORD)
    with pytest.raises(PasswordPolicyError) as caught:
        service.create_user(session, "bob", "bob@example.com", "bob")
    assert caught.value.problems == ["must be at least 12 characters long"]
    session.commit()
    assert [user.username for user in service.list_users(session)] == ["alice"]


def test_reset_password_ends_sessions_and_old_access_tokens(session: Session, engine: Engine) -> None:
    user = make_user(session)
    result = login(session)
    with pytest.raises(PasswordPolicyError):
        service.reset_password(session, user, "alice")
    reset = service.reset_password(session, user, "Brand-New-Passphrase-7", now=utcnow() + timedelta(seconds=5))
    session.commit()
    assert reset.sessions_revoked == 1
    with Session(engine) as fresh:
        stored = fresh.get(User, user.id)
        assert stored is not None and stored.password_changed_at == reset.user.password_changed_at
    with pytest.raises(InvalidSessionError):
        refresh_with(session, result.refresh_token)
    with pytest.raises(NotAuthenticatedError) as caught:
        service.authenticate_bearer(session, result.access_token)
    assert caught.value.reason == "issued before the password was changed"
    with pytest.raises(LoginFailedError):
        login(session)
    login(session, password="Brand-New-Passphrase-7", now=utcnow() + timedelta(seconds=6))


# --- API tokens -----------------------------------------------------------------------------------------------


def test_an_api_token_is_shown_once_and_stored_only_as_a_digest(session: Session, engine: Engine) -> None:
    user = make_user(session)
    created = service.create_api_token(session, user, "ci pipeline", UserRole.VIEWER)
    session.commit()
    token = created.token
    assert re.fullmatch(r"sai_[a-hj-km-np-z2-9]{8}_[A-Za-z0-9_-]{43}", token)
    assert token not in repr(created)
    prefix, secret = token.split("_", 2)[1:]
    assert created.record.prefix == prefix
    rows = raw_rows(engine, "api_tokens")
    assert len(rows) == 1 and prefix in rows[0]
    assert not any(secret in str(value) or token in str(value) for value in rows[0])
    assert hashlib.sha256(token.encode()).hexdigest() in rows[0]
    assert [listed.prefix for listed in service.list_api_tokens(session, user)] == [prefix]


def test_an_api_token_authenticates_and_records_its_use(session: Session, engine: Engine) -> None:
    user = make_user(session)
    token = service.create_api_token(session, user, "ci", UserRole.VIEWER).token
    session.commit()
    now = utcnow()
    principal = service.authenticate_bearer(session, token, now=now)
    session.commit()
    assert (principal.user.id, principal.role, principal.method) == (user.id, UserRole.VIEWER, "api_token")
    assert principal.credential == token.split("_")[1]
    with Session(engine) as fresh:
        assert fresh.scalars(select(ApiToken.last_used_at)).one() == now
    api_tokens.authenticate(session, token, now=now + timedelta(seconds=20))  # within the resolution: no write
    api_tokens.authenticate(session, token, now=now + timedelta(minutes=2))
    session.commit()
    with Session(engine) as fresh:
        assert fresh.scalars(select(ApiToken.last_used_at)).one() == now + timedelta(minutes=2)


def test_an_api_token_never_exceeds_its_creators_role(session: Session) -> None:
    analyst = make_user(session)
    auditor = make_user(session, "audrey", UserRole.AUDITOR)
    with pytest.raises(RoleCeilingError, match="role analyst cannot create a token with role admin"):
        service.create_api_token(session, analyst, "too much", UserRole.ADMIN)
    with pytest.raises(RoleCeilingError):
        service.create_api_token(session, analyst, "sideways", UserRole.AUDITOR)
    with pytest.raises(RoleCeilingError):
        service.create_api_token(session, auditor, "sideways", UserRole.ANALYST)
    token = service.create_api_token(session, analyst, "scans", UserRole.ANALYST).token
    session.commit()
    assert api_tokens.authenticate(session, token)[1] == UserRole.ANALYST
    service.set_role(session, analyst, UserRole.VIEWER)  # the owner is demoted: the token follows
    session.commit()
    assert api_tokens.authenticate(session, token)[1] == UserRole.VIEWER


def test_expired_revoked_forged_and_unknown_api_tokens_are_refused(session: Session) -> None:
    user = make_user(session)
    other = make_user(session, "bob")
    now = utcnow()
    with pytest.raises(InvalidInputError, match="future"):
        service.create_api_token(session, user, "stale", UserRole.VIEWER, now - timedelta(days=1))
    expiring = service.create_api_token(session, user, "short", UserRole.VIEWER, now + timedelta(hours=1))
    revocable = service.create_api_token(session, user, "revocable", UserRole.VIEWER)
    session.commit()
    api_tokens.authenticate(session, expiring.token, now=now + timedelta(minutes=59))

    def reason(token: str, **kwargs: Any) -> str:
        with pytest.raises(api_tokens.InvalidApiTokenError) as caught:
            api_tokens.authenticate(session, token, **kwargs)
        return caught.value.reason

    assert reason(expiring.token, now=now + timedelta(hours=1)) == "expired"
    with pytest.raises(TokenNotFoundError):  # bob cannot revoke alice's token
        service.revoke_api_token(session, revocable.record.id, owner=other)
    service.revoke_api_token(session, revocable.record.id, owner=user)
    session.commit()
    assert reason(revocable.token) == "revoked"
    forged = expiring.token[:-1] + ("A" if expiring.token[-1] != "A" else "B")
    assert reason(forged) == "unknown"
    assert reason("sai_abcdefgh_" + "x" * 43) == "unknown"
    assert reason("sai_ABCDEFGH_secret") == "malformed"
    assert reason("ghp_abcdefghijklmnop") == "malformed"
