"""A chat application that keeps each conversation on the server, for the tests of stateful http targets.

POST /sessions opens a conversation and returns its id (in a JSON field, a header or a cookie, as `?via=` asks),
POST /chat takes one message with the id (header X-Conversation, cookie sid, or /chat/ID in the URL) and answers
from the whole server-side conversation with the simulator's own rules, DELETE /sessions/ID ends it. It can
stream its reply as server-sent events or JSON lines. Served on a free port by `running_chat_app`."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.demo.simulator import answer


@dataclass
class ChatApp:
    mode: str = "vulnerable"
    stream: str = ""  # "", "sse" or "ndjson"
    sessions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    ended: list[str] = field(default_factory=list)
    turns_without_session: int = 0
    #: the Authorization header of every request, in order
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, history: list[dict[str, str]]) -> str:
        asked = history[-1]["content"]
        if "What code word" in asked:
            planted = re.findall(r"code word for later: (\w+)", " ".join(m["content"] for m in history))
            return planted[-1] if planted else "You gave me no code word."
        return answer(self.mode, history, [])[0]  # type: ignore[arg-type]


def _handler(chat: ChatApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), {"content-type": "application/json", **(headers or {})})

        def do_POST(self) -> None:
            chat.authorizations.append(self.headers.get("authorization", ""))
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"null")
            if self.path.startswith("/sessions"):
                via = self.path.partition("via=")[2] or "json"
                with chat.lock:
                    session = f"s-{len(chat.sessions) + 1}"
                    chat.sessions[session] = []
                if via == "header":
                    return self._json(201, {"ok": True}, {"X-Conversation": session})
                if via == "cookie":
                    return self._json(201, {"ok": True}, {"Set-Cookie": f"sid={session}; Path=/; HttpOnly"})
                return self._json(201, {"conversation": {"id": session}})
            session = self.headers.get("x-conversation") or ""
            cookie = re.search(r"(?:^|;\s*)sid=([^;]+)", self.headers.get("cookie", ""))
            session = session or (cookie.group(1) if cookie else "") or self.path.rpartition("/chat/")[2]
            if session not in chat.sessions:
                chat.turns_without_session += 1
                return self._json(404, {"error": {"message": "no such conversation"}})
            history = chat.sessions[session]
            history.append({"role": "user", "content": body["message"]})
            text = chat.reply(history)
            history.append({"role": "assistant", "content": text})
            if chat.stream == "sse":
                words = text.split(" ")
                events = [{"delta": word + (" " if i < len(words) - 1 else "")} for i, word in enumerate(words)]
                raw = "".join(f"event: delta\ndata: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                return self._send(200, raw.encode(), {"content-type": "text/event-stream"})
            if chat.stream == "ndjson":
                raw = "".join(json.dumps({"delta": char}) + "\n" for char in text)
                return self._send(200, raw.encode(), {"content-type": "application/x-ndjson"})
            return self._json(200, {"reply": text})

        def do_DELETE(self) -> None:
            session = self.path.rpartition("/")[2]
            with chat.lock:
                known = chat.sessions.get(session) is not None and session not in chat.ended
                if known:
                    chat.ended.append(session)
            self._json(204 if known else 404, {})

        def log_message(self, *_: Any) -> None:
            return None

    return Handler


@contextmanager
def running_chat_app(mode: str = "vulnerable") -> Iterator[tuple[ChatApp, str]]:
    """The app and its base URL (http://127.0.0.1:PORT)."""
    chat = ChatApp(mode=mode)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(chat))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield chat, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
