"""Connectors against real HTTP servers: success, retries with Retry-After, auth, content filters, timeouts."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from app.demo.simulator import running_simulator
from app.engine.model import Message
from app.engine.targets import TargetConfig, build_connector
from app.engine.targets.errors import (
    TargetAuthError,
    TargetBlockedError,
    TargetRetryableError,
    TargetUnreachableError,
)


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted (status, headers, body, delay) and records what it got."""

    script: ClassVar[list[tuple[int, dict[str, str], Any, float]]] = []
    seen: ClassVar[list[dict[str, Any]]] = []
    times: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        Scripted.seen.append(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": json.loads(self.rfile.read(length)),
            }
        )
        Scripted.times.append(time.monotonic())
        status, headers, body, delay = Scripted.script.pop(0) if Scripted.script else (200, {}, _ok("done"), 0.0)
        time.sleep(delay)
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        return None


def _ok(text: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


@pytest.fixture
def scripted() -> Iterator[str]:
    Scripted.script, Scripted.seen, Scripted.times = [], [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _send(config: TargetConfig, text: str = "hi") -> Any:
    async def go() -> Any:
        connector = build_connector(config)
        try:
            return await connector.send([Message("user", text)])
        finally:
            await connector.aclose()

    return asyncio.run(go())


def test_openai_connector_against_the_simulator() -> None:
    with running_simulator("vulnerable") as (base_url, app):
        response = _send(TargetConfig(type="openai", base_url=base_url, model="sim"), "print ZZTOP")
    assert "print ZZTOP" in response.text
    assert response.latency_ms is not None and response.latency_ms > 0
    assert sum(app.state.requests.values()) == 1


def test_retry_after_is_honoured_then_success(scripted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_KEY", "sk-test-123")
    Scripted.script = [(429, {"retry-after": "0.3"}, {"error": "slow down"}, 0.0), (500, {}, {"error": "x"}, 0.0)]
    config = TargetConfig(type="openai", base_url=scripted, model="m", api_key_env="SIM_KEY", backoff_base_s=0.01)
    response = _send(config)
    assert response.text == "done"
    assert len(Scripted.seen) == 3
    assert Scripted.times[1] - Scripted.times[0] >= 0.3  # waited as the server asked
    assert Scripted.seen[0]["headers"]["authorization"] == "Bearer sk-test-123"


def test_retries_run_out_as_a_retryable_error(scripted: str) -> None:
    Scripted.script = [(503, {}, {"error": "down"}, 0.0)] * 3
    config = TargetConfig(type="openai", base_url=scripted, model="m", max_retries=2, backoff_base_s=0.01)
    with pytest.raises(TargetRetryableError, match="HTTP 503"):
        _send(config)
    assert len(Scripted.seen) == 3


def test_auth_failure_is_not_retried(scripted: str) -> None:
    Scripted.script = [(401, {}, {"error": {"message": "invalid api key"}}, 0.0)]
    with pytest.raises(TargetAuthError, match="refused the credentials"):
        _send(TargetConfig(type="openai", base_url=scripted, model="m"))
    assert len(Scripted.seen) == 1


def test_content_filter_is_blocked_not_error(scripted: str) -> None:
    body = {"error": {"code": "content_filter", "message": "The response was filtered"}}
    Scripted.script = [(400, {}, body, 0.0)]
    with pytest.raises(TargetBlockedError):
        _send(TargetConfig(type="openai", base_url=scripted, model="m"))
    Scripted.script = [(200, {}, {"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]}, 0.0)]
    with pytest.raises(TargetBlockedError):
        _send(TargetConfig(type="openai", base_url=scripted, model="m"))


def test_timeout_is_retryable(scripted: str) -> None:
    Scripted.script = [(200, {}, _ok("late"), 1.0)]
    config = TargetConfig(type="openai", base_url=scripted, model="m", timeout_s=0.2, max_retries=0)
    with pytest.raises(TargetRetryableError, match="timed out"):
        _send(config)


def test_unreachable_target() -> None:
    with pytest.raises(TargetUnreachableError):
        _send(TargetConfig(type="openai", base_url="http://127.0.0.1:1/v1", model="m", max_retries=0))


def test_http_template_connector_fills_the_body_and_reads_jsonpath(scripted: str) -> None:
    Scripted.script = [(200, {}, {"result": {"answers": [{"text": "from the app"}]}}, 0.0)]
    config = TargetConfig(
        type="http",
        base_url=f"{scripted}/ask",
        request_template={"query": "{{prompt}}", "history": "{{messages}}", "app": "demo"},
        response_path="$.result.answers[0].text",
        headers={"X-Team": "red"},
    )
    assert _send(config, "what is up").text == "from the app"
    sent = Scripted.seen[0]
    assert sent["body"] == {
        "query": "what is up",
        "history": [{"role": "user", "content": "what is up"}],
        "app": "demo",
    }
    assert sent["headers"]["x-team"] == "red"


def test_anthropic_and_ollama_request_shapes(scripted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_KEY", "ak-1")
    Scripted.script = [
        (
            200,
            {},
            {
                "content": [{"type": "text", "text": "claude says"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 2, "output_tokens": 2},
            },
            0.0,
        ),
        (200, {}, {"message": {"role": "assistant", "content": "llama says"}, "done_reason": "stop"}, 0.0),
    ]
    base = scripted.removesuffix("/v1")
    claude = _send(TargetConfig(type="anthropic", base_url=base, model="c", api_key_env="ANTHROPIC_KEY"))
    llama = _send(TargetConfig(type="ollama", base_url=base, model="l"))
    assert (claude.text, llama.text) == ("claude says", "llama says")
    assert Scripted.seen[0]["path"] == "/v1/messages" and Scripted.seen[0]["headers"]["x-api-key"] == "ak-1"
    assert Scripted.seen[1]["path"] == "/api/chat" and Scripted.seen[1]["body"]["stream"] is False


def test_requests_per_minute_budget_paces_requests(scripted: str) -> None:
    config = TargetConfig(type="openai", base_url=scripted, model="m", requests_per_minute=600)  # one per 0.1 s

    async def go() -> None:
        connector = build_connector(config)
        await asyncio.gather(*(connector.send([Message("user", str(i))]) for i in range(5)))
        await connector.aclose()

    asyncio.run(go())
    span = Scripted.times[-1] - Scripted.times[0]
    assert span >= 0.35  # five requests evenly spaced at 10/s: the last starts 0.4 s after the first
