"""What a target test or scan says when the other side is not an LLM API, and scans that must not hang
(issue 11: the error text worked as a port scanner's banner grabber; a key with a newline was shown in clear;
a URL with a NUL byte left a scan `running` for ever, even after cancel).

Targets point at listeners on 127.0.0.1 that answer HTML, JSON of another service, an HTTP error, or a banner
that is not HTTP at all, each carrying a marker; the marker must appear in no answer of the API, no scan
error and no attempt row.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.db.enums import UserRole
from tests.integration.api.conftest import Api
from tests.security.listener import listening, serving

MARKER = "INTERNAL-7f3a9c-BANNER"
KEY = "sk-newline-9d8e7f6a5b4c"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


@contextmanager
def answering(answer: Answer) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 giving `answer` to every request; yields its root URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            data = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("content-type", answer.content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def log_message(self, *_: Any) -> None:
            return None

    with serving(Handler) as url:
        yield url


@contextmanager
def banner() -> Iterator[str]:
    """A TCP service that is not HTTP (think SSH or Redis): it sends a banner line to whoever connects."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=greet, args=(connection,), daemon=True).start()

    def greet(connection: socket.socket) -> None:
        with connection:  # the banner first, as SSH does, then whatever the client sends, until it hangs up
            connection.sendall(f"SSH-2.0-OpenSSH_{MARKER}\r\nProtocol mismatch.\r\n".encode())
            connection.shutdown(socket.SHUT_WR)
            connection.settimeout(5)
            try:
                while connection.recv(65536):
                    pass
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _target(api: Api, headers: dict[str, str], url: str, **extra: Any) -> int:
    settings = {"type": "openai", "model": "m", "base_url": f"{url}/v1", "max_retries": 0, **extra}
    created = api.client.post(
        "/api/v1/targets", json={"name": f"t{time.monotonic_ns()}", "settings": settings}, headers=headers
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _scan(api: Api, headers: dict[str, str], target_id: int) -> dict[str, Any]:
    started = api.client.post("/api/v1/scans", json={"target_id": target_id, "probes": "owasp:LLM07"}, headers=headers)
    assert started.status_code in (201, 202), started.text
    return api.wait_for_scan(started.json()["id"], headers)


def _attempt_errors(api: Api, scan_id: int) -> list[str]:
    engine = create_engine(api.url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT error FROM attempts WHERE scan_id = :id"), {"id": scan_id})
        errors = [str(row[0]) for row in rows]
    engine.dispose()
    return errors


ANSWERS: dict[str, tuple[Answer, str]] = {
    "an HTML page": (
        Answer(200, "text/html; charset=utf-8", f"<html><title>{MARKER}</title></html>"),
        "not an OpenAI-compatible endpoint (HTTP 200, text/html): the answer is not JSON",
    ),
    "an HTML error page": (
        Answer(404, "text/html", f"<h1>Not Found</h1><p>{MARKER}</p>"),
        "HTTP 404 (text/html)",
    ),
    "another service's JSON": (
        Answer(200, "application/json", json.dumps({"status": "green", "cluster_name": MARKER})),
        "not an OpenAI-compatible endpoint: the JSON answer has no chat completion",
    ),
    "a JSON error that is not an LLM API's": (
        Answer(500, "application/json", json.dumps({"detail": MARKER, "trace": [MARKER]})),
        "HTTP 500 (application/json)",
    ),
    "plain text": (Answer(400, "text/plain", f"{MARKER}\nline two"), "HTTP 400 (text/plain)"),
}


@pytest.mark.parametrize("case", list(ANSWERS))
def test_a_non_llm_answer_is_described_never_quoted(api: Api, case: str) -> None:
    answer, expected = ANSWERS[case]
    analyst = api.as_role(UserRole.ANALYST)
    with answering(answer) as url:
        target_id = _target(api, analyst, url)
        checks = api.client.post(f"/api/v1/targets/{target_id}/test", headers=analyst)
        assert checks.status_code == 200, checks.text
        assert MARKER not in checks.text
        assert expected in checks.json()[0]["message"], checks.json()
        scan = _scan(api, analyst, target_id)
    errors = _attempt_errors(api, scan["id"])
    assert errors and all(expected in error for error in errors), errors[:3]
    assert MARKER not in json.dumps(scan) + "".join(errors)


def test_a_service_that_does_not_speak_http_is_not_quoted(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with banner() as url:
        target_id = _target(api, analyst, url)
        checks = api.client.post(f"/api/v1/targets/{target_id}/test", headers=analyst)
        scan = _scan(api, analyst, target_id)
    assert checks.status_code == 200 and MARKER not in checks.text and "SSH" not in checks.text
    assert "not valid HTTP" in checks.json()[0]["message"], checks.json()
    errors = _attempt_errors(api, scan["id"])
    assert MARKER not in json.dumps(scan) + "".join(errors)


def test_an_llm_apis_own_error_message_is_kept_short_and_clean(api: Api) -> None:
    """`{"error": {"message": ...}}` is what OpenAI-compatible servers answer; its message helps the user."""
    message = "The model `m` does not exist\x1b[31m" + " or you do not have access" + "x" * 400
    analyst = api.as_role(UserRole.ANALYST)
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "internal": MARKER}})
    with answering(Answer(404, "application/json", body)) as url:
        checks = api.client.post(f"/api/v1/targets/{_target(api, analyst, url)}/test", headers=analyst).json()
    shown = checks[0]["message"]
    assert shown.startswith("the target answered with an error: HTTP 404 (application/json): The model `m` does not")
    assert MARKER not in shown and "\x1b" not in shown and len(shown) < 300


def test_a_key_with_a_newline_never_appears_in_an_error_through_the_api(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with listening() as listener:
        for key in (f"{KEY}\n", f"{KEY}\nX-Injected: yes", f"Bearer {KEY}\r\n"):
            body = {
                "name": f"k{len(listener.requests)}-{time.monotonic_ns()}",
                "settings": {"type": "openai", "model": "m", "base_url": f"{listener.url}/v1", "max_retries": 0},
                "api_key": key,
            }
            created = api.client.post("/api/v1/targets", json=body, headers=analyst)
            assert KEY not in created.text
            if created.status_code != 201:  # refused on the way in: fine, as long as it is not echoed
                assert created.status_code == 422
                continue
            checks = api.client.post(f"/api/v1/targets/{created.json()['id']}/test", headers=analyst)
            scan = _scan(api, analyst, created.json()["id"])
            assert KEY not in checks.text + json.dumps(scan) + "".join(_attempt_errors(api, scan["id"]))
        assert all("x-injected" not in request.headers for request in listener.requests)


def test_a_key_with_a_newline_never_appears_in_an_error_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`secureai target test` and `secureai scan` with a key read from an environment variable."""
    monkeypatch.setenv("NEWLINE_KEY", f"{KEY}\n")
    with listening() as listener:
        target = tmp_path / "target.yaml"
        target.write_text(
            f"type: openai\nmodel: m\nbase_url: {listener.url}/v1\napi_key_env: NEWLINE_KEY\nmax_retries: 0\n"
        )
        runner = CliRunner()
        tested = runner.invoke(cli, ["target", "test", str(target)])
        scanned = runner.invoke(
            cli, ["scan", "-t", str(target), "--probes", "owasp:LLM07", "-o", str(tmp_path / "r.jsonl")]
        )
    for result in (tested, scanned):
        assert result.exit_code != 0
        assert KEY not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "a header value is not valid (header authorization)" in " ".join(tested.output.split())
    assert listener.requests == []  # nothing was sent with a broken header
    report = tmp_path / "r.jsonl"
    assert not report.exists() or KEY not in report.read_text()


# --- scans that used to stay `running` for ever --------------------------------------------------------------


def _stored_settings(api: Api, target_id: int, settings: dict[str, Any]) -> None:
    """Write a target's settings straight into the database (a row from an older version, or edited by hand)."""
    engine = create_engine(api.url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE targets SET settings = :settings WHERE id = :id"),
            {"settings": json.dumps(settings), "id": target_id},
        )
    engine.dispose()


def test_a_stored_url_with_a_nul_byte_fails_the_scan_with_a_reason(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    target_id = _target(api, analyst, "http://127.0.0.1:9")
    bad = "\x00" if api.url.startswith("sqlite") else "\x07"  # PostgreSQL's JSON refuses to store U+0000
    _stored_settings(api, target_id, {"type": "openai", "model": "m", "base_url": f"http://127.0.0.1:9/v1{bad}"})
    scan = _scan(api, analyst, target_id)
    assert scan["status"] == "failed"
    assert "control characters" in scan["error"] and "\n" not in scan["error"]


def test_a_connector_that_cannot_be_built_fails_the_scan(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"unforeseen, with a secret {KEY}")

    monkeypatch.setattr("app.jobs.scan_job.build_connector", broken)
    analyst = api.as_role(UserRole.ANALYST)
    scan = _scan(api, analyst, _target(api, analyst, "http://127.0.0.1:9"))
    assert scan["status"] == "failed"
    assert scan["error"] == "the target's connector could not be set up (RuntimeError)"


def test_a_preflight_that_breaks_unexpectedly_fails_the_scan(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any) -> None:
        raise UnicodeEncodeError("ascii", KEY, 0, 1, "not ascii")

    monkeypatch.setattr("app.jobs.scan_job.preflight", broken)
    analyst = api.as_role(UserRole.ANALYST)
    scan = _scan(api, analyst, _target(api, analyst, "http://127.0.0.1:9"))
    assert scan["status"] == "failed"
    assert scan["error"] == "the first request to the target failed unexpectedly (UnicodeEncodeError)"


def test_a_run_that_breaks_unexpectedly_fails_the_scan(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any) -> None:
        raise KeyError(KEY)

    monkeypatch.setattr("app.jobs.scan_job.Runner.run", broken)
    analyst = api.as_role(UserRole.ANALYST)
    with listening() as listener:
        scan = _scan(api, analyst, _target(api, analyst, listener.url))
    assert scan["status"] == "failed"
    assert scan["error"] == "the scan stopped on an unexpected error (KeyError)"


def test_cancel_ends_a_scan_whose_target_never_answers_its_first_request(api: Api) -> None:
    analyst = api.as_role(UserRole.ANALYST)
    with listening() as listener:
        listener.hold = threading.Event()  # the target accepts the request and says nothing
        target_id = _target(api, analyst, listener.url, timeout_s=300)
        started = api.client.post(
            "/api/v1/scans", json={"target_id": target_id, "probes": "owasp:LLM07"}, headers=analyst
        )
        scan_id = started.json()["id"]
        assert listener.arrived.wait(30), "the preflight request never arrived"
        cancelled = api.client.post(f"/api/v1/scans/{scan_id}/cancel", headers=analyst)
        assert cancelled.status_code == 200, cancelled.text
        scan = api.wait_for_scan(scan_id, analyst, timeout=20)  # far less than the target's 300 s timeout
        listener.hold.set()
    assert scan["status"] == "cancelled"


def test_the_cli_still_scans_its_own_file_targets_on_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The egress policy is the platform's: an operator's own target file may point at 127.0.0.1."""
    monkeypatch.setenv("SECUREAI_TARGET_ALLOW", "")
    with listening() as listener:
        target = tmp_path / "target.yaml"
        target.write_text(f"type: openai\nmodel: m\nbase_url: {listener.url}/v1\nmax_retries: 0\n")
        result = CliRunner().invoke(cli, ["target", "test", str(target)])
    assert listener.requests, result.output
    assert "egress" not in result.output
    assert os.environ["SECUREAI_TARGET_ALLOW"] == ""
