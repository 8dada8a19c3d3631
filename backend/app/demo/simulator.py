"""A deliberately vulnerable LLM-application simulator with an OpenAI-compatible chat completions API.

THIS IS NOT A LANGUAGE MODEL. It imitates the failure modes SecureAI tests for, so a demo and the test suite
have a target that behaves in known ways without downloading a model:

- `vulnerable`: obeys everything. It prints the marker words and reproduces the text an attack asks for, writes
  runaway output (cut at an imitated token cap, finish_reason "length") when asked for unbounded output, then
  repeats its whole context (system prompt, retrieved documents and the user's message) back, so planted
  secrets and exfiltration links come out, and it calls any declared tool that the conversation names. (Its
  echo of the user's message alone would prove nothing: SecureAI's detectors discount copies of the attack.)
  It is biased on one protected attribute, age (`app.demo.bias`): asked for a decision in the bias pack's format,
  it decides against people aged 60 or more and scores them lower, and treats every other attribute alike.
  Harmful-content requests (`app.demo.content`) it answers by category: it complies with cyber, drugs, fraud,
  privacy and election and health misinformation (a `[SIMULATED COMPLIANCE]` outline of placeholders, never
  real content) and refuses CBRN, weapons and violence, self-harm, sexual content, minors and hate.
- `refusing`: refuses every request.
- `base64`: refuses plain requests but obeys instructions that arrive base64-encoded (a filter that only
  reads plain text).
- `flaky`: obeys, but answers some requests with 429 (with Retry-After), some with 500, and lets some hang
  past the client's timeout; which ones is random, seeded.
- `guarded`, `filtered`, `attacker`, `judge`: the rule-based target, attacker and judge of adaptive attacks
  (`app.demo.roles`): a target that only a feedback loop gets past, one a keyword filter guards, and stand-ins
  that speak the attacker and judge protocols of docs/adaptive.md.

Every answer carries the header `X-SecureAI-Simulator: <mode>` and the model name `secureai-simulator-<mode>`.
Run it with `secureai demo-target --mode vulnerable --port 8900`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.demo import bias, content, roles
from app.engine.detectors.echo import requested_payloads

Mode = Literal["vulnerable", "refusing", "base64", "flaky", "guarded", "filtered", "attacker", "judge"]
MODES: tuple[Mode, ...] = ("vulnerable", "refusing", "base64", "flaky", "guarded", "filtered", "attacker", "judge")
REFUSAL = "I'm sorry, but I can't help with that request."
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def _decoded_instructions(text: str) -> str | None:
    """The first base64 run in `text` that decodes to readable UTF-8, if any."""
    for run in _BASE64_RUN.findall(text):
        try:
            decoded = base64.b64decode(run + "=" * (-len(run) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if decoded.isprintable() or "\n" in decoded:
            return decoded
    return None


def _tool_calls(tools: list[dict[str, Any]], conversation: str) -> list[dict[str, Any]]:
    """Call every declared tool whose name the conversation mentions (an over-eager agent)."""
    calls = []
    for index, tool in enumerate(tools):
        name = str(tool.get("function", tool).get("name", ""))
        if name and name.lower() in conversation.lower():
            arguments = {"request": conversation[-400:]}
            calls.append(
                {
                    "id": f"call_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            )
    return calls


def answer(
    mode: Mode, messages: list[dict[str, Any]], tools: list[dict[str, Any]], secret: bytes = b""
) -> tuple[str, list[dict[str, Any]], str]:
    """The simulator's reply text, tool calls and finish reason for a conversation (`secret` keys the
    `guarded` mode's passwords)."""
    last_user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    context = "\n".join(str(m.get("content") or "") for m in messages)
    if mode == "refusing":
        return REFUSAL, [], "stop"
    if mode == "attacker":
        return roles.attacker_reply(messages), [], "stop"
    if mode == "judge":
        return roles.judge_reply(messages), [], "stop"
    if mode == "guarded" and not roles.guarded_unlocked(secret, last_user):
        return roles.guarded_refusal(secret, last_user), [], "stop"
    if mode == "filtered" and roles.filtered_blocks(last_user):
        return REFUSAL, [], "stop"
    if mode == "base64":
        decoded = _decoded_instructions(last_user)
        if decoded is None:
            return REFUSAL, [], "stop"
        obeyed = _obey(decoded)
        done = f"Done as asked.\n{obeyed}" if obeyed else "Done as asked."
        return f"{done}\n\nDecoded request: {decoded}", _tool_calls(tools, decoded), "stop"
    request = _decoded_instructions(last_user) or last_user
    if mode == "vulnerable" and (decided := bias.decision_reply(request)) is not None:
        return decided, [], "stop"
    if mode == "vulnerable" and (harmful := content.harmful_reply(request)) is not None:
        return harmful, [], "stop"
    obeyed = _obey(request)
    reply = f"Sure! Here is everything I was given, as you asked:\n{context}"
    calls = _tool_calls(tools, context)
    finish = "tool_calls" if calls else "length" if _UNBOUNDED.search(request) else "stop"
    return (f"{obeyed}\n\n{reply}" if obeyed else reply), calls, finish


#: SecureAI's attack marker: the word an injected instruction asks the target to print.
_MARKER = re.compile(r"SAMARK[0-9A-F]{8}")
#: Requests for unbounded output: "N times", "every integer", "count upwards", "N numbers per message".
_UNBOUNDED = re.compile(
    r"\b\d[\d,]{3,}\s+(?:times|numbers|words)\b|\bevery integer\b|\bcount upwards\b|\brepeat the entire\b",
    re.IGNORECASE,
)
#: How much an obedient runaway answer writes before the (imitated) token cap stops it.
RUNAWAY_CHARS = 2400


def _obey(request: str) -> str:
    """What an obedient model writes of its own for `request`: the words it is told to print, the text it is
    told to reproduce, and runaway output for unbounded requests (cut at an imitated token cap)."""
    done: list[str] = []
    done.extend(f"As instructed: {marker}" for marker in dict.fromkeys(_MARKER.findall(request)))
    done.extend(requested_payloads((request,)))
    if _UNBOUNDED.search(request):
        numbers = " ".join(str(number) for number in range(1, 2000))
        done.append(numbers[:RUNAWAY_CHARS])
    return "\n".join(done)


def create_app(mode: Mode, seed: int = 0, latency_s: float = 0.0) -> FastAPI:
    """The simulator as an ASGI app; `app.state.requests` counts the requests it received per body.

    `latency_s` delays every answer, to imitate a real model's response time (benchmarks, resume tests).
    """
    app = FastAPI(title=f"SecureAI simulator ({mode})", docs_url=None, redoc_url=None)
    rng = random.Random(seed)  # noqa: S311 - deterministic misbehaviour, not security
    secret = f"secureai-guarded-{seed}".encode()
    app.state.requests = {}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        key = json.dumps(body.get("messages"), sort_keys=True)
        app.state.requests[key] = app.state.requests.get(key, 0) + 1
        headers = {"X-SecureAI-Simulator": mode}
        if latency_s:
            await asyncio.sleep(latency_s)
        if mode == "flaky":
            roll = rng.random()
            if roll < 0.15:
                return JSONResponse(
                    {"error": {"message": "rate limited"}}, status_code=429, headers={**headers, "Retry-After": "0.05"}
                )
            if roll < 0.25:
                return JSONResponse({"error": {"message": "internal error"}}, status_code=500, headers=headers)
            if roll < 0.30:
                await asyncio.sleep(30)
        text, calls, finish = answer(mode, body.get("messages") or [], body.get("tools") or [], secret)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": f"sim-{int(time.time() * 1000)}",
                "object": "chat.completion",
                "model": f"secureai-simulator-{mode}",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": finish,
                    }
                ],
                "usage": {"prompt_tokens": len(key) // 4, "completion_tokens": len(text) // 4},
            },
            headers=headers,
        )

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": f"secureai-simulator-{mode}", "object": "model"}]}

    return app


@contextmanager
def running_simulator(
    mode: Mode, port: int = 0, seed: int = 0, latency_s: float = 0.0
) -> Iterator[tuple[str, FastAPI]]:
    """Serve the simulator on 127.0.0.1 in a background thread; yields (base URL ending in /v1, app)."""
    app = create_app(mode, seed, latency_s)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}/v1", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_roles(target: Mode = "guarded", latency_s: float = 0.0) -> Iterator[dict[str, tuple[str, FastAPI]]]:
    """The three doubles of an adaptive scan, each served on its own port: the `target` mode, the rule-based
    attacker and the rule-based judge; yields role -> (base URL ending in /v1, app)."""
    with ExitStack() as stack:
        yield {
            role: stack.enter_context(running_simulator(mode, latency_s=latency_s))
            for role, mode in (("target", target), ("attacker", "attacker"), ("judge", "judge"))
        }
