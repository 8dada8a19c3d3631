"""Every API route x every role: generated from the app's route table, so a new route without a rule fails.

A route is either public (sign-in), open to any signed-in user, or guarded by one permission through
`require(...)`. The test reads the permission off the route's dependencies and checks, per role, that the
server answers 403 exactly when the role lacks it, and 401 for everyone without a token.
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from app.auth.rbac import Permission, has_permission
from app.main import API_PREFIX, API_ROUTERS, create_app
from tests.integration.api.conftest import ROLES, Api
from tests.platform import permission_of

PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/logout")}
ANY_SIGNED_IN = {("GET", "/api/v1/auth/me"), ("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}")}


def _rules() -> list[tuple[str, str, Permission | None]]:
    rules = []
    for router in API_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = API_PREFIX + route.path
            for method in sorted(route.methods):
                permission = permission_of(route)
                key = (method, path)
                assert permission is not None or key in PUBLIC | ANY_SIGNED_IN, f"{method} {path} has no rule"
                rules.append((method, path, permission))
    # and nothing is served under the API prefix that the walk above did not see
    served = {
        (method.upper(), path)
        for path, operations in create_app().openapi()["paths"].items()
        if path.startswith(API_PREFIX)
        for method in operations
    }
    assert served == {(method, path) for method, path, _ in rules}
    return rules


def test_every_route_has_a_rule_and_every_role_gets_what_the_rule_says(api: Api) -> None:
    rules = _rules()
    assert len(rules) >= 20
    headers = {role: api.as_role(role) for role in ROLES}
    for method, path, permission in rules:
        concrete = re.sub(r"\{[^}]+\}", "999999", path)
        anonymous = api.client.request(method, concrete, json={})
        if (method, path) in PUBLIC:
            assert anonymous.status_code != 401 or path.endswith("/refresh"), (method, path)
            continue
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        for role in ROLES:
            answer = api.client.request(method, concrete, json={}, headers=headers[role])
            allowed = permission is None or has_permission(role, permission)
            if allowed:
                assert answer.status_code not in (401, 403), (method, path, role, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.status_code)
            assert answer.status_code < 500, (method, path, role, answer.text)
