"""Access tokens (JWT) refuse every forgery we can craft; roles and API-token ceilings follow the diamond."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest

from app.auth import rbac
from app.auth.rbac import Permission, can_grant, effective_role, has_permission
from app.auth.tokens import (
    ACCESS_TOKEN_TTL,
    AUDIENCE,
    ISSUER,
    InvalidAccessTokenError,
    decode_access_token,
    issue_access_token,
    signing_key,
)
from app.config import MissingSecretKeyError, get_settings
from app.core.crypto import SealingKey
from app.db.enums import UserRole
from app.db.models import utcnow

SECRET = "Lr7Nq2Wx9Kb4Tz6Hc1Pv8Mj3Fd5Gs0Ya-Ue_Oi7Bn2Xk4Rw9Qt6Zm1Vh3Cp8Jf5L"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECUREAI_SECRET_KEY", SECRET)
    get_settings.cache_clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "7",
        "role": "analyst",
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "abc123",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _signed(claims: dict[str, Any], key: bytes | str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key if key is not None else signing_key(), algorithm=algorithm)


def _reason(token: str) -> str:
    with pytest.raises(InvalidAccessTokenError) as caught:
        decode_access_token(token)
    return caught.value.reason


def test_a_fresh_token_decodes_to_its_claims() -> None:
    token = issue_access_token(42, UserRole.AUDITOR)
    claims = decode_access_token(token)
    assert (claims.user_id, claims.role) == (42, UserRole.AUDITOR)
    assert claims.expires_at - claims.issued_at == ACCESS_TOKEN_TTL
    assert abs((claims.issued_at - utcnow()).total_seconds()) < 5
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert decode_access_token(issue_access_token(42, UserRole.AUDITOR)).jti != claims.jti


def test_the_error_is_a_pyjwt_invalid_token_error_with_a_reason() -> None:
    with pytest.raises(jwt.InvalidTokenError, match="malformed"):
        decode_access_token("not-a-jwt")


def test_an_expired_token_is_refused_beyond_a_small_leeway() -> None:
    assert _reason(issue_access_token(1, UserRole.VIEWER, ttl=timedelta(seconds=-60))) == "expired"
    # a few seconds of clock skew between two servers is tolerated
    decode_access_token(issue_access_token(1, UserRole.VIEWER, ttl=timedelta(seconds=-3)))


def test_a_token_signed_with_another_key_is_refused() -> None:
    assert _reason(issue_access_token(1, UserRole.ADMIN, secret_key="some other deployment's key")) == "bad signature"


def test_the_raw_secret_key_is_not_the_signing_key() -> None:
    """HKDF with its own purpose: neither the operator's secret nor the credential-sealing key signs tokens."""
    assert signing_key() != SECRET.encode()
    assert signing_key() != SealingKey.derive(SECRET).key
    assert len(signing_key()) == 32
    assert _reason(_signed(_claims(), key=SECRET)) == "bad signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_alg_none_token_is_refused(alg: str) -> None:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(role="admin")).encode())
    assert _reason(f"{header}.{payload}.") == "unsigned token (alg none)"
    assert _reason(f"{header}.{payload}.{_b64(b'whatever')}") == "unsigned token (alg none)"


@pytest.mark.filterwarnings("ignore:The HMAC key is 32 bytes long")  # PyJWT's advice on HS512, our point exactly
def test_another_hmac_algorithm_is_refused_even_with_our_key() -> None:
    assert _reason(_signed(_claims(), algorithm="HS512")) == "algorithm HS512 not allowed"


def test_a_token_for_another_audience_or_issuer_is_refused() -> None:
    assert _reason(_signed(_claims(aud="some-other-service"))) == "wrong audience"
    assert _reason(_signed(_claims(iss="someone-else"))) == "wrong issuer"


def test_a_token_of_another_type_is_refused() -> None:
    assert _reason(_signed(_claims(typ="refresh"))) == "wrong token type"
    assert _reason(_signed(_claims(role="superuser"))) == "unknown role"
    assert _reason(_signed(_claims(sub="alice"))) == "bad subject"


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sub", "typ", "role", "aud", "iss"])
def test_every_claim_is_required(claim: str) -> None:
    assert _reason(_signed(_claims(**{claim: None}))) == f"missing claim {claim}"


def test_a_tampered_payload_breaks_the_signature() -> None:
    header, payload, signature = issue_access_token(5, UserRole.VIEWER).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["role"] == "viewer"
    claims["role"] = "admin"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert _reason(forged) == "bad signature"


def test_a_token_from_the_future_is_refused() -> None:
    assert _reason(issue_access_token(1, UserRole.VIEWER, now=utcnow() + timedelta(minutes=5))) == "not valid yet"


def test_without_a_secret_key_nothing_is_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECUREAI_SECRET_KEY")
    get_settings.cache_clear()
    with pytest.raises(MissingSecretKeyError):
        issue_access_token(1, UserRole.VIEWER)


# --- roles ----------------------------------------------------------------------------------------------------


def test_each_role_has_its_permissions() -> None:
    assert all(has_permission(UserRole.ADMIN, permission) for permission in Permission)
    assert has_permission(UserRole.ANALYST, "scans:write") and has_permission(UserRole.ANALYST, "findings:triage")
    assert not has_permission(UserRole.ANALYST, "audit:read") and not has_permission(UserRole.ANALYST, "users:manage")
    assert has_permission(UserRole.AUDITOR, "audit:read") and has_permission(UserRole.AUDITOR, "compliance:export")
    assert not has_permission(UserRole.AUDITOR, "scans:write") and not has_permission(UserRole.AUDITOR, "targets:write")
    assert rbac.ROLE_PERMISSIONS[UserRole.VIEWER] == {Permission.READ}
    assert not has_permission(UserRole.ADMIN, "no-such:permission")


@pytest.mark.parametrize(
    ("granter", "allowed"),
    [
        (UserRole.ADMIN, {UserRole.ADMIN, UserRole.ANALYST, UserRole.AUDITOR, UserRole.VIEWER}),
        (UserRole.ANALYST, {UserRole.ANALYST, UserRole.VIEWER}),
        (UserRole.AUDITOR, {UserRole.AUDITOR, UserRole.VIEWER}),
        (UserRole.VIEWER, {UserRole.VIEWER}),
    ],
)
def test_a_role_grants_only_itself_and_what_is_below_it(granter: UserRole, allowed: set[UserRole]) -> None:
    assert {role for role in UserRole if can_grant(granter, role)} == allowed


def test_a_grantable_role_never_has_a_permission_its_granter_lacks() -> None:
    for granter in UserRole:
        for role in UserRole:
            if can_grant(granter, role):
                assert rbac.ROLE_PERMISSIONS[role] <= rbac.ROLE_PERMISSIONS[granter], (granter, role)


@pytest.mark.parametrize(
    ("user_role", "ceiling", "expected"),
    [
        (UserRole.ADMIN, UserRole.ANALYST, UserRole.ANALYST),
        (UserRole.ANALYST, UserRole.ANALYST, UserRole.ANALYST),
        (UserRole.VIEWER, UserRole.ANALYST, UserRole.VIEWER),  # owner demoted after creating the token
        (UserRole.AUDITOR, UserRole.ANALYST, UserRole.VIEWER),  # side by side: only viewer is below both
        (UserRole.ANALYST, UserRole.ADMIN, UserRole.ANALYST),
    ],
)
def test_a_token_acts_with_the_highest_role_below_both(
    user_role: UserRole, ceiling: UserRole, expected: UserRole
) -> None:
    assert effective_role(user_role, ceiling) == expected
