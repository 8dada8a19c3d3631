"""The `litellm` target type through the `secureai` command: LiteLLM's own routing (`openai/NAME` with an
`api_base`) to the project's simulator and to a server that refuses the key, served over real HTTP.

In-process (CliRunner): importing LiteLLM costs seconds of CPU, paid once per test process here.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.demo.simulator import running_simulator
from tests.conftest import service_missing

KEY = "sk-litellm-test-5bd1c0ffee"


@pytest.fixture(autouse=True)
def _litellm_installed() -> None:
    try:
        import litellm  # noqa: F401
    except ImportError:
        service_missing("the litellm extra is not installed (uv sync --extra litellm)")


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_target_test_reaches_an_openai_compatible_server_through_litellm_routing() -> None:
    with running_simulator("refusing") as (url, app):
        code, out, err = _invoke(
            "target", "test", f"litellm:openai/secureai-simulator-refusing@{url}", "--api-key-env", "SIM_KEY", "--json",
            env={"SIM_KEY": KEY},
        )  # fmt: skip
        sent = list(app.state.requests)
    assert code == 0, out + err
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    assert checks["reachable"]["level"] == "ok"
    assert checks["credentials"]["message"] == "sent (key from $SIM_KEY) and accepted"
    assert checks["conversation-state"]["message"] == "each request is independent"
    # LiteLLM sent the conversation as an OpenAI chat completion to the simulator
    assert json.loads(sent[0])[-1]["content"] == "Reply with the word OK."
    assert KEY not in out + err


def test_a_scan_through_litellm_finds_what_the_vulnerable_simulator_gives_away(tmp_path: Any) -> None:
    with running_simulator("vulnerable") as (url, _):
        code, out, err = _invoke(
            "scan", "-t", f"litellm:openai/secureai-simulator-vulnerable@{url}", "-p", "id:spl.repeat_verbatim",
            "--api-key-env", "SIM_KEY", "--out", str(tmp_path / "r.jsonl"), "--format", "json",
            env={"SIM_KEY": KEY},
        )  # fmt: skip
    assert code in (0, 1), out + err
    report = json.loads(out)
    assert report["target"] == "litellm:openai/secureai-simulator-vulnerable"
    assert report["summary"]["outcomes"]["error"] == 0
    assert [finding["probe_id"] for finding in report["findings"]] == ["spl.repeat_verbatim"]


class _Refuses(BaseHTTPRequestHandler):
    """Answers every request as a provider does a wrong key, echoing the key it got (some gateways do)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        got = self.headers.get("authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {got}", "type": "invalid_request"}})
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_key_is_a_credentials_error_without_the_key(refusing_server: str) -> None:
    code, out, err = _invoke(
        "target", "test", f"litellm:openai/m@{refusing_server}", "--api-key-env", "SIM_KEY", env={"SIM_KEY": KEY}
    )
    assert code == 3, out + err
    flat = " ".join(out.split())
    assert "credentials: the provider refused the credentials (AuthenticationError" in flat
    assert KEY not in out + err and KEY[:12] not in out + err


def test_no_credentials_at_all_stop_the_check_with_the_fix() -> None:
    with running_simulator("refusing") as (url, _):  # LiteLLM's OpenAI route wants a key, even for a local server
        code, out, err = _invoke("target", "test", f"litellm:openai/secureai-simulator-refusing@{url}")
    assert code == 3, out + err
    assert "no credentials for this provider" in " ".join(out.split())


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # what an environment without the package sees
    code, _, err = _invoke("target", "test", "litellm:gemini/gemini-1.5-flash")
    assert code == 2
    assert "litellm targets need the litellm extra: pip install 'secureai[litellm]'" in " ".join(err.split())
