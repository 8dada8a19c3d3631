"""A generic HTTP API: the request body comes from a template, the reply is picked out by JSONPath.

Two kinds of application need more than one request/answer:

- **Streaming replies**: an answer sent as server-sent events (`text/event-stream`) or as JSON lines streamed in
  chunks (`application/x-ndjson`, `application/jsonl`, `application/json-seq`) is read whole; `response_path`
  is applied to each event and the strings it finds are joined (the deltas of a streamed reply).
- **Stateful applications** (`session` in the target): the conversation lives on the server. A start request
  returns a session id (in a JSON field, a header or a cookie); each turn sends only the new user message with
  that id (`{{session_id}}` in the URL or the template, and/or a header or cookie); an end request closes it.

The runner hands a connector the whole conversation at every turn. So that multi-turn and adaptive attacks work
unchanged, the connector recognises a conversation by its history: after each answer it remembers which session
holds "these messages and this answer", and the next turn whose history is exactly that continues the session.
A history no open session holds (a fresh attempt, or a branch of an adaptive search that left a remembered
point) starts a new session and first replays the earlier user turns in it, so the server's conversation is
always the one the attack means. Sessions whose conversation is not continued are ended when more than
`max_open_sessions` are open, and all of them when the connector closes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from http.cookiejar import CookiePolicy, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import httpx
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from app.engine.model import Message, TargetResponse
from app.engine.targets.base import HttpConnector, bearer_headers, not_an_endpoint, raise_for_status
from app.engine.targets.config import HttpSession, SessionRequest, TargetConfig, TargetConfigError
from app.engine.targets.egress import EgressPolicy
from app.engine.targets.errors import TargetError

PLACEHOLDERS = ("{{prompt}}", "{{messages}}", "{{system}}", "{{session_id}}")
#: Media types whose body is a stream of JSON values, one a line.
JSON_LINES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-seq", "application/ndjson"})


class _NoCookies(DefaultCookiePolicy):
    """The clients keep no cookies: a session cookie is sent only with its own conversation's requests."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _parse_path(text: str, what: str) -> Any:
    try:
        return parse_jsonpath(text)
    except (JsonPathParserError, Exception) as error:  # jsonpath-ng raises plain Exceptions for some inputs
        raise TargetConfigError(f"{what} {text!r} is not valid JSONPath: {error}") from None


class HttpTemplateConnector(HttpConnector):
    """For applications with their own API (a RAG service, an agent endpoint, a gateway)."""

    api = "the configured JSON API"
    #: Sessions kept open for conversations that may continue; the oldest beyond this is ended.
    max_open_sessions = 64

    def __init__(self, config: TargetConfig, *, egress: EgressPolicy | None = None) -> None:
        super().__init__(config, egress=egress)
        self._path = _parse_path(config.response_path or "$", "response_path")
        self.session: HttpSession | None = config.session
        self._id_path = (
            _parse_path(self.session.id, "session.id") if self.session and self.session.id_from == "json" else None
        )
        #: history digest -> session id, oldest first
        self._open: OrderedDict[str, str] = OrderedDict()
        self.sessions_started = 0
        self.sessions_ended = 0
        self.end_failures = 0
        if self.session is not None:
            policy: CookiePolicy = _NoCookies()
            for client in self._clients:
                client.cookies.jar.set_policy(policy)

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,  # no structured-output option in this API: not used
    ) -> TargetResponse:
        if self.session is None:
            return await self._turn(messages, None)
        history = messages[:-1]
        session_id = self._open.pop(_digest(history), None) if any(m.role == "user" for m in history) else None
        if session_id is None:
            session_id = await self.start_session()
            try:  # a conversation no open session holds: rebuild it on the server first
                for index, message in enumerate(history):
                    if message.role == "user":
                        await self._turn(history[: index + 1], session_id)
            except BaseException:
                await self._end_quietly(session_id)
                raise
        try:
            response = await self._turn(messages, session_id)
        except BaseException:
            await self._end_quietly(session_id)
            raise
        key = _digest([*messages, Message("assistant", response.text)])
        displaced = self._open.pop(key, None)  # another conversation at the very same point: either may go on
        self._open[key] = session_id
        if displaced is not None:
            await self._end_quietly(displaced)
        while len(self._open) > self.max_open_sessions:
            _, oldest = self._open.popitem(last=False)
            await self._end_quietly(oldest)
        return response

    async def _turn(self, messages: list[Message], session_id: str | None) -> TargetResponse:
        """One request with the template filled for `messages` (and the session's id)."""
        config = self.config
        body = fill_template(config.request_template, messages, session_id or "")
        url = _with_id(config.base_url or "", session_id)
        response, self.last_latency_ms = await self.request(config.method, url, self._session_headers(session_id), body)
        raise_for_status(response, self._session_headers(session_id))
        found = self._reply(response)
        return TargetResponse(text=found, latency_ms=self.last_latency_ms)

    def _reply(self, response: httpx.Response) -> str:
        """The reply text: `response_path` in a JSON answer, or joined over the events of a streamed one."""
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "text/event-stream":
            return self._joined(_sse_data(response.text), response)
        if media in JSON_LINES:
            return self._joined(response.text.replace("\x1e", "\n").splitlines(), response)
        try:
            data = response.json()
        except ValueError:
            raise not_an_endpoint(self.api, response, "the answer is not JSON") from None
        found = [match.value for match in self._path.find(data)]
        if not found:  # the answer is not quoted: it may come from any service that answers the URL
            raise TargetError(f"response_path {self.config.response_path} matched nothing in the JSON answer")
        value = found[0]
        return value if isinstance(value, str) else json.dumps(value)

    def _joined(self, events: list[str], response: httpx.Response) -> str:
        """The strings `response_path` finds in each JSON event, joined; a non-JSON event is text as it is."""
        parts: list[str] = []
        matched = False
        for event in events:
            event = event.strip()
            if not event or event == "[DONE]":
                continue
            try:
                data = json.loads(event)
            except ValueError:
                parts.append(event)
                matched = True
                continue
            for match in self._path.find(data):
                matched = True
                parts.append(match.value if isinstance(match.value, str) else json.dumps(match.value))
        if not matched:
            raise TargetError(
                f"response_path {self.config.response_path} matched nothing in the streamed answer "
                f"({len(events)} events)"
            )
        return "".join(parts)

    def _session_headers(self, session_id: str | None) -> dict[str, str]:
        headers = bearer_headers(self.config)
        if self.session is None or session_id is None:
            return headers
        if self.session.header:
            headers[self.session.header] = session_id
        cookie = self.session.cookie or (self.session.id if self.session.id_from == "cookie" else None)
        if cookie:
            pair = f"{cookie}={session_id}"
            existing = next((name for name in headers if name.lower() == "cookie"), None)
            headers[existing or "cookie"] = f"{headers[existing]}; {pair}" if existing else pair
        return headers

    async def start_session(self) -> str:
        """Open a session on the server and return its id."""
        assert self.session is not None
        start = self.session.start
        response, _ = await self.request(
            start.method, start.url or self.config.base_url or "", bearer_headers(self.config), start.body
        )
        raise_for_status(response, bearer_headers(self.config))
        session_id = self._session_id(response)
        self.sessions_started += 1
        return session_id

    def _session_id(self, response: httpx.Response) -> str:
        assert self.session is not None
        where, name = self.session.id_from, self.session.id
        value: Any = None
        if where == "header":
            value = response.headers.get(name)
        elif where == "cookie":
            value = response.cookies.get(name)
        else:
            try:
                data = response.json()
            except ValueError:
                raise not_an_endpoint(self.api, response, "the session start answer is not JSON") from None
            found = [match.value for match in (self._id_path.find(data) if self._id_path else [])]
            value = found[0] if found else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise TargetError(f"the session start answer carries no session id ({where} {name})")
        if len(value) > 4096 or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            raise TargetError(f"the session id ({where} {name}) is not usable: too long or has control characters")
        return value.strip()

    async def end_session(self, session_id: str) -> None:
        """Close a session on the server (nothing to do when the target has no end request)."""
        assert self.session is not None
        end: SessionRequest | None = self.session.end
        if end is None:
            return
        body = _fill_id(end.body, session_id)
        headers = self._session_headers(session_id)
        response, _ = await self.request(
            end.method, _with_id(end.url or self.config.base_url or "", session_id), headers, body
        )
        raise_for_status(response, headers)
        self.sessions_ended += 1

    async def _end_quietly(self, session_id: str) -> None:
        """End a session whose conversation is over; a failure here must not fail the attempt that used it."""
        try:
            await asyncio.shield(self.end_session(session_id))
        except TargetError:
            self.end_failures += 1

    async def end_open_sessions(self) -> int:
        """End every open session, raising the first failure (`target test` reports it); returns how many."""
        ended = 0
        while self._open:
            _, session_id = self._open.popitem(last=False)
            await self.end_session(session_id)
            ended += 1
        return ended

    async def aclose(self) -> None:
        while self._open:
            _, session_id = self._open.popitem(last=False)
            await self._end_quietly(session_id)
        await super().aclose()


def _digest(messages: list[Message]) -> str:
    """A conversation's identity: every message's role and text."""
    text = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _with_id(url: str, session_id: str | None) -> str:
    """`{{session_id}}` in a URL, URL-quoted."""
    return url.replace("{{session_id}}", quote(session_id or "", safe=""))


def _fill_id(value: Any, session_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{{session_id}}", session_id)
    if isinstance(value, list):
        return [_fill_id(item, session_id) for item in value]
    if isinstance(value, dict):
        return {key: _fill_id(item, session_id) for key, item in value.items()}
    return value


def _sse_data(text: str) -> list[str]:
    """The data of each server-sent event (its `data:` lines joined by newlines)."""
    events: list[str] = []
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if lines:
                events.append("\n".join(lines))
                lines = []
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if lines:
        events.append("\n".join(lines))
    return events


def fill_template(template: Any, messages: list[Message], session_id: str = "") -> Any:
    """Replace the placeholders anywhere in a JSON-like template; a string that is exactly a placeholder
    becomes the value itself (so `{{messages}}` turns into a list, not a string)."""
    user = [m.content for m in messages if m.role == "user"]
    values: dict[str, Any] = {
        "{{prompt}}": user[-1] if user else "",
        "{{messages}}": [{"role": m.role, "content": m.content} for m in messages],
        "{{system}}": "\n\n".join(m.content for m in messages if m.role == "system"),
        "{{session_id}}": session_id,
    }
    if isinstance(template, str):
        if template in values:
            return values[template]
        for placeholder in ("{{prompt}}", "{{system}}", "{{session_id}}"):
            template = template.replace(placeholder, str(values[placeholder]))
        return template
    if isinstance(template, list):
        return [fill_template(item, messages, session_id) for item in template]
    if isinstance(template, dict):
        return {key: fill_template(item, messages, session_id) for key, item in template.items()}
    return template
