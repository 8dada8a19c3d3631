"""A listener on 127.0.0.1 that records every request it gets and answers like an OpenAI-compatible server.

The security tests point targets at it to see exactly what the server sent where: nothing may arrive where it
must not (a credential at an address it was not entered for, a request to a refused destination).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Listener:
    """What one listener received; `url` is its root (`http://127.0.0.1:PORT`)."""

    url: str
    port: int
    requests: list[Recorded] = field(default_factory=list)
    hold: threading.Event | None = None  # when set up, requests wait for it before any answer
    arrived: threading.Event = field(default_factory=threading.Event)

    def everything(self) -> str:
        """All that arrived, headers and bodies, as one text to search for a leaked value."""
        return "\n".join(
            f"{r.method} {r.path}\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items()) + f"\n{r.body}"
            for r in self.requests
        )


def _handler(listener: Listener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            listener.requests.append(Recorded(self.command, self.path, headers, body))
            listener.arrived.set()
            if listener.hold is not None:
                listener.hold.wait(30)

        def _answer(self, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self._record()
            self._answer(
                {
                    "choices": [{"message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
                    "content": [{"type": "text", "text": "OK"}],
                    "message": {"role": "assistant", "content": "OK"},
                    "output": "OK",
                }
            )

        def do_GET(self) -> None:
            self._record()
            self._answer({"data": [{"id": "m"}]})

        def log_message(self, *_: Any) -> None:
            return None

    return Handler


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free port of 127.0.0.1 in a background thread; yields its root URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def listening() -> Iterator[Listener]:
    """Start a recording listener on a free port of 127.0.0.1 and stop it afterwards."""
    listener = Listener(url="", port=0)
    with serving(_handler(listener)) as url:
        listener.url = url
        listener.port = int(url.rsplit(":", 1)[1])
        try:
            yield listener
        finally:
            if listener.hold is not None:
                listener.hold.set()
