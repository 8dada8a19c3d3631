"""The egress policy for platform targets (issue 11, "Medium: no egress policy (SSRF)").

The attack: an analyst points a target at the cloud metadata service, the server's own loopback services
(its API, Redis, PostgreSQL), the internal network, a `file://` URL or a string that is not a URL, then tests
or scans it, and reads what answered from the error text. Every test goes through the HTTP API; where a
connection must not happen, a recording listener on 127.0.0.1 shows that nothing arrived.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.config import get_settings
from app.db.enums import UserRole
from tests.integration.api.conftest import Api
from tests.security.listener import Listener, listening, serving

GetAddrInfo = Callable[..., list[Any]]


def _allow(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    """What the administrator allows (SECUREAI_TARGET_ALLOW), taking effect for the running server."""
    monkeypatch.setenv("SECUREAI_TARGET_ALLOW", spec)
    get_settings.cache_clear()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening() as running:
        yield running


def _create(api: Api, headers: dict[str, str], name: str, settings: dict[str, Any]) -> Any:
    return api.client.post("/api/v1/targets", json={"name": name, "settings": settings}, headers=headers)


def _openai(base_url: str) -> dict[str, Any]:
    return {"type": "openai", "model": "m", "base_url": base_url}


def _reasons(problem: dict[str, Any]) -> str:
    """The problem's detail and its per-field messages (the API may refuse a NUL before the target check)."""
    fields = [str(error.get("message", "")) for error in problem.get("errors", [])]
    return " | ".join([problem["detail"], *fields])


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "cloud metadata": (_openai("http://169.254.169.254/latest/meta-data/"), "a cloud metadata address"),
    "metadata over IPv4-mapped IPv6": (_openai("http://[::ffff:169.254.169.254]/"), "a cloud metadata address"),
    "link-local": (_openai("http://169.254.10.1:8080/v1"), "a link-local address"),
    "loopback": (_openai("http://127.0.0.1:6379/v1"), "a loopback address, port 6379"),
    "loopback, another spelling": (_openai("http://127.1:5432/v1"), "a loopback address, port 5432"),
    "localhost by name": (_openai("http://localhost:8000/api/v1"), "a loopback address"),
    "private range": (_openai("http://10.1.2.3/v1"), "a private address"),
    "unspecified": (_openai("http://0.0.0.0:8000/v1"), "the unspecified address"),
    "ollama's default base_url": ({"type": "ollama", "model": "m"}, "127.0.0.1 (127.0.0.1): a loopback address"),
    "file URL": (_openai("file:///etc/passwd"), "must start with http:// or https://"),
    "gopher to Redis": (_openai("gopher://127.0.0.1:6379/_FLUSHALL"), "must start with http:// or https://"),
    "not a URL": (_openai("not a url"), "spaces or control characters"),
    "no scheme": (_openai("127.0.0.1:8000"), "must start with http:// or https://"),
    "NUL byte": (_openai("http://127.0.0.1:9/v1\x00"), "control characters"),
    "header injection": (_openai("http://example.com/\r\nX-Injected: 1"), "control characters"),
    "user information": (_openai("http://admin:pw@10.0.0.1/"), "user information"),
    "bad port": (_openai("http://example.com:70000/"), "not a valid URL"),
    "http target": (
        {
            "type": "http",
            "base_url": "http://169.254.169.254/computeMetadata/v1/",
            "request_template": {"q": "{{prompt}}"},
            "response_path": "$.a",
        },
        "a cloud metadata address",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_forbidden_destinations_are_refused_when_a_target_is_created(
    api: Api, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    _allow(monkeypatch, "")
    analyst = api.as_role(UserRole.ANALYST)
    settings, reason = REFUSED[case]
    answer = _create(api, analyst, "probe", settings)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    detail = _reasons(answer.json())
    # a NUL may already be refused by the API's input checks, before the URL check: either way, 422 saying so
    assert reason in detail or (case == "NUL byte" and "NUL" in detail), detail
    assert "\\u0000" not in answer.text and "\r" not in detail and "X-Injected" not in detail
    if "refuses" in detail:
        assert "an administrator can allow it with SECUREAI_TARGET_ALLOW" in detail
    assert api.client.get("/api/v1/targets", headers=analyst).json()["items"] == []


def test_patching_a_target_to_a_forbidden_destination_is_refused_and_changes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _allow(monkeypatch, "")
    analyst = api.as_role(UserRole.ANALYST)
    created = _create(api, analyst, "bot", _openai("https://93.184.216.34/v1"))
    assert created.status_code == 201, created.text
    before = api.client.get(f"/api/v1/targets/{created.json()['id']}", headers=analyst).json()
    for base_url, reason in (
        ("http://169.254.169.254/", "cloud metadata"),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://192.168.0.10/", "private"),
        ("file:///etc/shadow", "http:// or https://"),
        ("http://x\ty/", "control characters"),
    ):
        answer = api.client.patch(
            f"/api/v1/targets/{created.json()['id']}", json={"settings": _openai(base_url)}, headers=analyst
        )
        assert answer.status_code == 422 and reason in _reasons(answer.json()), answer.text
    assert api.client.get(f"/api/v1/targets/{created.json()['id']}", headers=analyst).json() == before


def test_an_administrator_allows_a_loopback_port_range_and_nothing_else(
    api: Api, monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    _allow(monkeypatch, f"127.0.0.1/32:{listener.port}-{listener.port + 1}")
    analyst = api.as_role(UserRole.ANALYST)
    allowed = _create(api, analyst, "local model", _openai(f"{listener.url}/v1"))
    assert allowed.status_code == 201, allowed.text
    for port in (6379, 5432, listener.port + 2):
        refused = _create(api, analyst, f"port {port}", _openai(f"http://127.0.0.1:{port}/v1"))
        assert refused.status_code == 422 and f"port {port}" in refused.json()["detail"], refused.text
    metadata = _create(api, analyst, "metadata", _openai("http://169.254.169.254/"))
    assert metadata.status_code == 422  # no rule opens link-local or metadata addresses
    checks = api.client.post(f"/api/v1/targets/{allowed.json()['id']}/test", headers=analyst)
    assert checks.status_code == 200, checks.text
    assert checks.json()[0] == {"name": "reachable", "level": "ok", "message": "the server answers", "fix": None}
    assert listener.requests, "the allowed target was reached"


def test_narrowing_the_policy_after_saving_refuses_the_connection(
    api: Api, monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    _allow(monkeypatch, f"127.0.0.1/32:{listener.port}")
    analyst = api.as_role(UserRole.ANALYST)
    target = _create(api, analyst, "bot", _openai(f"{listener.url}/v1")).json()
    _allow(monkeypatch, "")  # the administrator takes the rule back; the stored target still points there

    checks = api.client.post(f"/api/v1/targets/{target['id']}/test", headers=analyst)
    assert checks.status_code == 200, checks.text
    first = checks.json()[0]
    assert first["name"] == "reachable" and first["level"] == "error"
    assert first["message"] == (
        "egress policy refuses 127.0.0.1 (127.0.0.1): a loopback address, port "
        f"{listener.port}; an administrator can allow it with SECUREAI_TARGET_ALLOW"
    )

    started = api.client.post(
        "/api/v1/scans", json={"target_id": target["id"], "probes": "owasp:LLM07"}, headers=analyst
    )
    assert started.status_code in (201, 202), started.text
    scan = api.wait_for_scan(started.json()["id"], analyst)
    assert scan["status"] == "failed"
    assert "egress policy refuses 127.0.0.1" in scan["error"]
    assert listener.requests == []


def _rebinding(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> list[str]:
    """`name` resolves to each of `answers` in turn (the last one from then on), like a DNS server an
    attacker controls; other names resolve as usual. Returns the list of addresses handed out."""
    real: GetAddrInfo = socket.getaddrinfo
    handed: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = answers[min(len(handed), len(answers) - 1)]
        handed.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return handed


def test_a_name_that_resolves_elsewhere_at_connect_time_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    """DNS rebinding: public when the target is saved, loopback when the server connects."""
    _allow(monkeypatch, "")
    handed = _rebinding(monkeypatch, "rebind.attacker.test", ["93.184.216.34", "127.0.0.1"])
    analyst = api.as_role(UserRole.ANALYST)
    created = _create(api, analyst, "rebind", _openai(f"http://rebind.attacker.test:{listener.port}/v1"))
    assert created.status_code == 201, created.text  # it resolved to a public address then
    checks = api.client.post(f"/api/v1/targets/{created.json()['id']}/test", headers=analyst).json()
    assert checks[0]["level"] == "error"
    assert checks[0]["message"].startswith("egress policy refuses rebind.attacker.test (127.0.0.1): a loopback")
    assert listener.requests == []
    assert handed[0] == "93.184.216.34" and set(handed[1:]) == {"127.0.0.1"}


def test_a_name_is_refused_when_any_of_its_addresses_is(
    api: Api, monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    _allow(monkeypatch, "")
    real: GetAddrInfo = socket.getaddrinfo

    def two_answers(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "mixed.attacker.test":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))
            for address in ("93.184.216.34", "169.254.169.254")
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    analyst = api.as_role(UserRole.ANALYST)
    answer = _create(api, analyst, "mixed", _openai("http://mixed.attacker.test/v1"))
    assert answer.status_code == 422
    assert "mixed.attacker.test (169.254.169.254): a cloud metadata address" in answer.json()["detail"]


def test_the_connection_goes_to_the_address_that_was_checked(
    api: Api, monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    """An allowed name is connected to at the address the policy judged (one resolution), while the request
    keeps the name for its Host header."""
    _allow(monkeypatch, f"127.0.0.1/32:{listener.port}")
    handed = _rebinding(monkeypatch, "model.lab.test", ["127.0.0.1"])
    analyst = api.as_role(UserRole.ANALYST)
    created = _create(api, analyst, "lab", _openai(f"http://model.lab.test:{listener.port}/v1"))
    assert created.status_code == 201, created.text
    resolutions_at_save = len(handed)
    checks = api.client.post(f"/api/v1/targets/{created.json()['id']}/test", headers=analyst).json()
    assert checks[0]["level"] == "ok", checks
    assert listener.requests[0].headers["host"] == f"model.lab.test:{listener.port}"
    # one resolution per new connection, each checked before connecting
    assert len(handed) - resolutions_at_save >= 1


@contextmanager
def redirecting(location: str) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers every request with a 307 to `location`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(307)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self.do_POST()

        def log_message(self, *_: Any) -> None:
            return None

    with serving(Handler) as url:
        yield url


def test_a_redirect_is_not_followed(api: Api, monkeypatch: pytest.MonkeyPatch, listener: Listener) -> None:
    """An allowed target answering 307 to a place the policy refuses (here: a listener on a port the rule does
    not cover) does not make the server go there."""
    analyst = api.as_role(UserRole.ANALYST)
    with redirecting(f"{listener.url}/v1/chat/completions") as url:
        port = int(url.rsplit(":", 1)[1])
        _allow(monkeypatch, f"127.0.0.1/32:{port}")
        target = _create(api, analyst, "redirector", _openai(f"{url}/v1"))
        assert target.status_code == 201, target.text
        checks = api.client.post(f"/api/v1/targets/{target.json()['id']}/test", headers=analyst).json()
    assert checks[0]["level"] == "error" and "HTTP 307" in checks[0]["message"], checks
    assert listener.requests == []


#: Settings that cost the server, one step beyond the platform's bound each.
BEYOND: dict[str, float] = {
    "timeout_s": 301,
    "max_concurrency": 65,
    "max_retries": 11,
    "backoff_base_s": 61,
    "backoff_max_s": 301,
    "requests_per_minute": 0.5,
    "tokens_per_minute": 99,
    "max_tokens": 65_537,
}
AT_BOUND: dict[str, float] = {
    "timeout_s": 300,
    "max_concurrency": 64,
    "max_retries": 10,
    "backoff_base_s": 60,
    "backoff_max_s": 300,
    "requests_per_minute": 1,
    "tokens_per_minute": 100,
    "max_tokens": 65_536,
}


def test_settings_that_cost_the_server_are_bounded_for_platform_targets(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    base = _openai("http://127.0.0.1:9/v1")
    for field, value in BEYOND.items():
        answer = _create(api, analyst, f"too much {field}", {**base, field: value})
        assert answer.status_code == 422, (field, answer.text)
        assert f"invalid target ({field})" in answer.json()["detail"] and "platform target" in answer.json()["detail"]
    created = _create(api, analyst, "at the bounds", {**base, **AT_BOUND})
    assert created.status_code == 201, created.text
    patched = api.client.patch(
        f"/api/v1/targets/{created.json()['id']}", json={"settings": {**base, "timeout_s": 3600}}, headers=analyst
    )
    assert patched.status_code == 422 and "timeout_s" in patched.json()["detail"]
    stored = api.client.get(f"/api/v1/targets/{created.json()['id']}", headers=analyst).json()
    assert stored["settings"]["timeout_s"] == 300


def test_the_command_line_keeps_its_own_limits_and_reaches_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`secureai scan -t file.yaml` is the operator's own target: no platform bounds, no egress policy."""
    monkeypatch.setenv("SECUREAI_TARGET_ALLOW", "")
    target = tmp_path / "target.yaml"
    target.write_text(
        "type: openai\nmodel: m\nbase_url: http://127.0.0.1:9/v1\ntimeout_s: 3600\nmax_concurrency: 200\n"
    )
    result = CliRunner().invoke(cli, ["scan", "-t", str(target), "--probes", "owasp:LLM07", "--dry-run"])
    assert result.exit_code == 0, result.output
