"""Target descriptions: every shipped example loads; secrets come only from the environment or files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.engine.targets import TargetConfigError, load_target_config
from app.engine.targets.base import bearer_headers
from tests.conftest import BACKEND_DIR

EXAMPLES = sorted((BACKEND_DIR.parent / "examples" / "targets").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_target_loads(path: Path) -> None:
    config = load_target_config(str(path))
    assert config.label


def test_examples_cover_every_type() -> None:
    assert {load_target_config(str(p)).type for p in EXAMPLES} == {
        "openai", "anthropic", "ollama", "http", "python", "litellm",
    }  # fmt: skip


def test_short_form() -> None:
    config = load_target_config("openai:gpt-4o-mini@http://127.0.0.1:8080/v1", {"model": None})
    assert (config.type, config.model, config.base_url) == ("openai", "gpt-4o-mini", "http://127.0.0.1:8080/v1")
    assert load_target_config("python:pkg.mod:fn").callable == "pkg.mod:fn"


@pytest.mark.parametrize(
    ("spec", "model", "base_url"),
    [
        (
            "litellm:bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            None,
        ),
        ("litellm:vertex_ai/claude-3-5-sonnet@20240620", "vertex_ai/claude-3-5-sonnet@20240620", None),
        ("litellm:openai/m@http://127.0.0.1:8080/v1", "openai/m", "http://127.0.0.1:8080/v1"),
    ],
)
def test_litellm_short_form_keeps_colons_and_at_in_the_model(spec: str, model: str, base_url: str | None) -> None:
    config = load_target_config(spec)
    assert (config.type, config.model, config.base_url) == ("litellm", model, base_url)


@pytest.mark.parametrize(
    ("session", "base_url", "message"),
    [
        ({"id_from": "json", "id": "$.id", "start": {"url": "http://evil.example/s"}}, "http://app.example/chat",
         "a session url must be on base_url's scheme, host and port"),
        ({"id_from": "json", "id": "$.id", "end": {"url": "http://app.example:81/s/{{session_id}}"}},
         "http://app.example/chat", "a session url must be on base_url's scheme, host and port"),
        ({"id_from": "cookie", "id": " "}, "http://app.example/chat", "session.id must name"),
        ({"id_from": "body", "id": "x"}, "http://app.example/chat", "session.id_from"),
    ],
)  # fmt: skip
def test_bad_sessions_name_the_problem(session: dict[str, object], base_url: str, message: str) -> None:
    settings = {"request_template": {"m": "{{prompt}}"}, "response_path": "$.r", "session": session}
    with pytest.raises(TargetConfigError, match=re.escape(message)):
        load_target_config(f"http:x@{base_url}", settings)


def test_a_session_is_for_http_targets_only() -> None:
    with pytest.raises(TargetConfigError, match="session is for http targets"):
        load_target_config("openai:m@http://127.0.0.1:1/v1", {"session": {"id_from": "header", "id": "X-Id"}})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("gpt-4o", "give a .yaml/.json file or TYPE:MODEL"),
        ("openai:gpt-4o", "needs base_url"),
        ("missing.yaml", "does not exist"),
    ],
)
def test_bad_descriptions_name_the_problem(source: str, message: str) -> None:
    with pytest.raises(TargetConfigError, match=message):
        load_target_config(source)


def test_keys_and_header_references_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = load_target_config(str(BACKEND_DIR.parent / "examples" / "targets" / "http-rag-app.yaml"))
    with pytest.raises(TargetConfigError, match=r"\$\{SUPPORT_APP_TOKEN\}"):
        config.resolved_headers()
    monkeypatch.setenv("SUPPORT_APP_TOKEN", "tok-123")
    assert config.resolved_headers()["Authorization"] == "Bearer tok-123"
    assert "tok-123" not in config.model_dump_json()  # the description itself holds no secret

    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    from_file = load_target_config("openai:m@http://x/v1", {"api_key_file": key_file})
    assert bearer_headers(from_file)["authorization"] == "Bearer sk-from-file"


def test_platform_credentials_reach_the_request_but_never_a_dump() -> None:
    from app.engine.targets.config import TargetConfig

    config = TargetConfig(type="openai", model="m", base_url="http://127.0.0.1:1/v1", headers={"X-Team": "red"})
    armed = config.with_credentials("sk-platform-123", {"X-Api-Key": "hdr-secret"})
    assert armed.api_key() is not None and armed.api_key().get_secret_value() == "sk-platform-123"  # type: ignore[union-attr]
    assert armed.resolved_headers() == {"X-Team": "red", "X-Api-Key": "hdr-secret"}
    dumped = armed.model_dump_json() + repr(armed) + str(armed)
    assert "sk-platform-123" not in dumped and "hdr-secret" not in dumped
    assert config.api_key() is None  # the original is untouched
