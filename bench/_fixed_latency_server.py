#!/usr/bin/env python
"""A lean OpenAI-compatible chat server that answers every request after a fixed delay (benchmarks only).

The scan benchmark measures the scanner, so the server must not be what limits it: the FastAPI simulator
spends ~0.7 ms of CPU per request, which on two cores competes with the scanner. This one parses just enough
HTTP/1.1 (keep-alive, Content-Length bodies) to answer `POST /v1/chat/completions` with a fixed refusal and
`GET /v1/models`. With COUNT_FILE it writes how many chat completions it answered there when it is stopped
(SIGTERM): what another tool's run sent, read beside its wall time.

    python bench/_fixed_latency_server.py PORT LATENCY_SECONDS [COUNT_FILE]
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

ANSWER = json.dumps(
    {
        "id": "bench",
        "object": "chat.completion",
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "I'm sorry, but I can't help with that request."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12},
    }
).encode()
#: Chat completions answered so far.
ANSWERED = [0]
MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()


def _response(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if latency:
                await asyncio.sleep(latency)
            ANSWERED[0] += request_line.startswith("POST")
            writer.write(_response(MODELS if request_line.startswith("GET") else ANSWER))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, latency: float, count_file: Path | None) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, latency), "127.0.0.1", port, backlog=1024)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    async with server:
        await stopped.wait()
    if count_file is not None:
        count_file.write_text(str(ANSWERED[0]))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None))
