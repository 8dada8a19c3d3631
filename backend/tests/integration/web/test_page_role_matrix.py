"""Every dashboard route x every role, generated from the route table: a new page without a rule fails.

Like the API's matrix (tests/integration/api/test_route_role_matrix.py): a page is public (sign-in) or needs
one permission through `web_require(...)`, read off its dependencies. Without a session every page sends the
browser to the sign-in page; with one, a role without the permission gets the 403 page and nothing else does.
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from app.auth.rbac import Permission, has_permission
from app.web.app import WEB_ROUTERS
from tests.integration.web.conftest import ROLES, Web, soup
from tests.platform import permission_of

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/docs")}


def _rules() -> list[tuple[str, str, Permission | None]]:
    rules = []
    for router in WEB_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods):
                permission = permission_of(route)
                assert permission is not None or (method, route.path) in PUBLIC, f"{method} {route.path} has no rule"
                rules.append((method, route.path, permission))
    return rules


def test_every_page_has_a_rule_and_every_role_gets_what_the_rule_says(web: Web) -> None:
    rules = _rules()
    assert len(rules) >= 25
    browsers = {role: web.signed_in(role) for role in ROLES}
    anonymous = web.browser()
    for method, path, permission in rules:
        concrete = re.sub(r"\{[^}]+\}", "999999", path)
        if (method, path) in PUBLIC:
            continue
        answer = anonymous.get(concrete) if method == "GET" else anonymous.post(concrete)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), (method, path)
        for role, browser in browsers.items():
            answer = browser.get(concrete) if method == "GET" else browser.post(concrete)
            assert answer.status_code < 500, (method, path, role, answer.text[:300])
            assert answer.headers["content-type"].startswith("text/html"), (method, path, role)
            if permission is None or has_permission(role, permission):
                assert answer.status_code not in (401, 403), (method, path, role, answer.text[:300])
            else:
                assert answer.status_code == 403, (method, path, role, answer.status_code)
                assert f"Your role ({role.value}) may not do this" in answer.text


def test_the_navigation_offers_only_what_the_role_may_open(web: Web) -> None:
    expected = {
        "admin": {"/audit", "/users"},
        "analyst": set(),
        "auditor": {"/audit"},
        "viewer": set(),
    }
    for role in ROLES:
        links = {a["href"] for a in soup(web.signed_in(role).get("/")).select("nav.nav a")}
        assert links >= {"/", "/targets", "/scans", "/findings", "/compliance", "/tokens"}
        assert links & {"/audit", "/users"} == expected[role.value], role
