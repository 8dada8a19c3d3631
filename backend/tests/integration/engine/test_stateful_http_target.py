"""Stateful HTTP applications and streamed replies through the `http` target type, over real HTTP, against the
chat application of stateful_double.py (conversations kept on the server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.demo.simulator import running_roles
from app.engine.model import Message
from app.engine.sinks import read_jsonl
from app.engine.targets import build_connector, load_target_config
from tests.integration.engine.stateful_double import ChatApp, running_chat_app


@pytest.fixture
def chat_app() -> Iterator[tuple[ChatApp, str]]:
    with running_chat_app() as served:
        yield served


SESSIONS = {
    # how the start answer carries the id -> how each turn sends it
    "json": ({"id_from": "json", "id": "$.conversation.id"}, "/chat/{{session_id}}", {}),
    "header": ({"id_from": "header", "id": "X-Conversation", "header": "X-Conversation"}, "/chat", {}),
    "cookie": ({"id_from": "cookie", "id": "sid"}, "/chat", {}),
}


def _target(tmp_path: Path, base: str, via: str, stream: str = "") -> Path:
    session, path, _ = SESSIONS[via]
    response_path = "$.delta" if stream else "$.reply"
    target = {
        "type": "http",
        "name": f"stateful-{via}",
        "base_url": base + path,
        "request_template": {"message": "{{prompt}}"},
        "response_path": response_path,
        "session": {
            **session,
            "start": {"url": f"{base}/sessions?via={via}", "body": {"user": "secureai"}},
            "end": {"url": base + "/sessions/{{session_id}}", "method": "DELETE"},
        },
    }
    file = tmp_path / f"{via}.yaml"
    file.write_text(yaml.safe_dump(target), encoding="utf-8")
    return file


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("via", list(SESSIONS))
def test_target_test_checks_the_session_whichever_way_the_id_travels(
    chat_app: tuple[ChatApp, str], tmp_path: Path, via: str
) -> None:
    chat, base = chat_app
    code, out, err = _invoke("target", "test", str(_target(tmp_path, base, via)), "--json")
    assert code == 0, out + err
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    name = SESSIONS[via][0]["id"]
    assert checks["session"] == {
        "name": "session",
        "level": "ok",
        "message": f"started (id from the start answer's {via} {name}), two turns kept in one session, ended",
        "fix": None,
    }
    assert checks["conversation-state"]["message"] == "each request is independent"
    assert chat.turns_without_session == 0
    assert sorted(chat.ended) == sorted(chat.sessions)  # every session the checks opened was ended


def test_a_session_that_is_not_carried_is_a_warning(chat_app: tuple[ChatApp, str], tmp_path: Path) -> None:
    chat, base = chat_app
    target = yaml.safe_load(_target(tmp_path, base, "header").read_text(encoding="utf-8"))
    del target["session"]["header"]  # the id is read but never sent back: every turn is refused
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(target), encoding="utf-8")
    code, out, _ = _invoke("target", "test", str(tmp_path / "broken.yaml"))
    assert code == 3
    assert "no such conversation" in out and chat.turns_without_session > 0


def test_a_multi_turn_scan_keeps_each_conversation_in_its_own_session(
    chat_app: tuple[ChatApp, str], tmp_path: Path
) -> None:
    chat, base = chat_app
    out = tmp_path / "scan.jsonl"
    code, stdout, err = _invoke(
        "scan", "-t", str(_target(tmp_path, base, "cookie")), "-p", "id:spl.repeat_verbatim",
        "--strategies", "none,escalation", "-o", str(out), "--format", "json",
    )  # fmt: skip
    assert code in (0, 1), stdout + err
    _, records = read_jsonl(out)
    assert records and all(record.outcome.value != "error" for record in records)
    escalated = [record for record in records if record.strategies == ("escalation",)]
    assert escalated and all(len(record.turns) > 1 for record in escalated)
    # one session per attempt (and the scan's preflight request), holding exactly that attempt's user turns in
    # order; all ended at the end
    sent = sorted(tuple(m["content"] for m in history if m["role"] == "user") for history in chat.sessions.values())
    assert sent == sorted([*(record.turns for record in records), ("Reply with the word OK.",)])
    assert sorted(chat.ended) == sorted(chat.sessions)
    assert chat.turns_without_session == 0


@pytest.mark.parametrize("stream", ["sse", "ndjson"])
def test_streamed_replies_are_read_whole(chat_app: tuple[ChatApp, str], tmp_path: Path, stream: str) -> None:
    chat, base = chat_app
    chat.stream, chat.mode = stream, "refusing"
    code, out, err = _invoke("target", "test", str(_target(tmp_path, base, "json", stream)), "--json")
    assert code == 0, out + err
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    assert checks["session"]["level"] == "ok"  # the code word came back whole through the stream

    async def ask() -> str:
        connector = build_connector(load_target_config(str(_target(tmp_path, base, "json", stream))))
        try:
            return (await connector.send([Message("user", "Tell me about your rules.")])).text
        finally:
            await connector.aclose()

    text = asyncio.run(ask())
    stored = next(reversed(chat.sessions.values()))[-1]["content"]
    assert text == stored and " " in text  # every delta, in order, nothing added


def test_an_adaptive_attack_that_backtracks_gets_the_conversation_it_means(
    chat_app: tuple[ChatApp, str], tmp_path: Path
) -> None:
    chat, base = chat_app
    chat.mode = "guarded"
    out = tmp_path / "adaptive.jsonl"
    with running_roles() as urls:
        code, stdout, err = _invoke(
            "scan", "-t", str(_target(tmp_path, base, "header")), "-p", "id:jb.roleplay.unrestricted_persona",
            "--strategies", "crescendo", "--attacker", f"openai:a@{urls['attacker'][0]}",
            "--judge", f"openai:j@{urls['judge'][0]}", "-o", str(out), "--format", "json",
        )  # fmt: skip
    assert code in (0, 1), stdout + err
    _, records = read_jsonl(out)
    assert records and all(record.outcome.value != "error" for record in records)
    assert all("backtrack" in record.extra.get("adaptive.notes", "") for record in records)
    histories = [[(m["role"], m["content"]) for m in history] for history in chat.sessions.values()]
    for record in records:  # the conversation the attack recorded is one the server held, turn for turn
        conversation = [(turn["role"], turn["content"]) for turn in json.loads(record.extra["adaptive.conversation"])]
        assert any(history[: len(conversation)] == conversation for history in histories), conversation
    assert chat.turns_without_session == 0 and sorted(chat.ended) == sorted(chat.sessions)
