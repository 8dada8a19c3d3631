"""The connector interface and the HTTP plumbing every HTTP connector shares."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import json
import re
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any, Protocol

import certifi
import httpcore
import httpx
from httpcore import SOCKET_OPTION

from app.engine.model import Message, TargetResponse
from app.engine.targets.config import TargetConfig
from app.engine.targets.egress import EgressPolicy, EgressRefusedError, IPAddress
from app.engine.targets.errors import (
    TargetAuthError,
    TargetBlockedError,
    TargetEgressError,
    TargetError,
    TargetHeaderError,
    TargetRetryableError,
    TargetUnreachableError,
    looks_like_content_filter,
)


class Connector(Protocol):
    """Sends one conversation to a target and returns its answer, or raises a classified TargetError."""

    config: TargetConfig

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        """One request; no retries here (the resilience layer does those)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every pool: loading the CA bundle takes ~15 ms each time."""
    return ssl.create_default_context(cafile=certifi.where())


#: Connections per pooled client. httpcore's pool bookkeeping costs O(connections^2) per request, which at 64
#: connections used more CPU than the rest of an attempt together; several small pools keep it cheap.
CONNECTIONS_PER_POOL = 8
#: The largest answer read from a target; a bigger one is an error (a chat answer is a few kilobytes).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Longest provider error message quoted in an error (`{"error": {"message": ...}}` bodies only).
PROVIDER_MESSAGE_CHARS = 200

_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
#: Headers whose values are not secrets (everything else is scrubbed from error messages).
_PLAIN_HEADERS = frozenset({"content-type", "accept", "anthropic-version", "user-agent"})


def check_headers(headers: dict[str, str]) -> None:
    """TargetHeaderError naming the first header that HTTP cannot carry (a line break in a pasted key, a
    non-ASCII character); the value itself is never part of the message."""
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            shown = name if len(name) <= 60 and name.isprintable() else "(unprintable)"
            raise TargetHeaderError(f"a header name is not valid (header {shown!r})")
        if not _HEADER_VALUE.fullmatch(value):
            raise TargetHeaderError(
                f"a header value is not valid (header {name}): it has a line break, a control character, a "
                "non-ASCII character or leading/trailing spaces"
            )


def scrub(text: str, headers: dict[str, str] | None) -> str:
    """`text` without any credential sent in `headers` (a gateway may echo the key it rejected)."""
    for name, value in (headers or {}).items():
        if name.lower() in _PLAIN_HEADERS:
            continue
        for secret in {value.strip(), value.strip().rsplit(" ", 1)[-1]}:
            if len(secret) >= 6:
                text = text.replace(secret, "[redacted]")
    return text


def clean_text(text: str, limit: int) -> str:
    """One line of printable text at most `limit` characters long."""
    flat = " ".join(_UNPRINTABLE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def content_type_of(response: httpx.Response) -> str:
    """The answer's media type (no parameters), or 'no content type'."""
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media:
        return "no content type"
    return media if len(media) <= 80 and _MEDIA_TYPE.fullmatch(media) else "an unusual content type"


def provider_message(response: httpx.Response) -> str | None:
    """`error.message` of an LLM API's JSON error body (`{"error": {"message": ...}}`), cleaned and cut to
    PROVIDER_MESSAGE_CHARS; None for any other body, which is never quoted."""
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    return clean_text(message, PROVIDER_MESSAGE_CHARS)


def answer_summary(response: httpx.Response, headers: dict[str, str] | None = None) -> str:
    """'HTTP 404 (text/html)', plus the provider's error message when the body is an LLM API's JSON error."""
    summary = f"HTTP {response.status_code} ({content_type_of(response)})"
    message = provider_message(response)
    return f"{summary}: {scrub(message, headers)}" if message else summary


def not_an_endpoint(api: str, response: httpx.Response, why: str) -> TargetError:
    """The error for a 2xx answer that is not what the API returns (never quoting the body)."""
    return TargetError(f"not {api} endpoint (HTTP {response.status_code}, {content_type_of(response)}): {why}")


def describe_transport_error(error: httpx.TransportError) -> str:
    """What went wrong on the wire, without anything the other side sent (a protocol error quotes the bytes
    that answered, e.g. an SSH banner) or that we sent (an invalid header quotes its value)."""
    if isinstance(error, (httpx.NetworkError, httpx.UnsupportedProtocol)):
        detail = clean_text(str(error), 160)
        return f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    if isinstance(error, httpx.RemoteProtocolError):
        return "the server's answer is not valid HTTP (RemoteProtocolError)"
    return type(error).__name__


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend behind the egress policy: resolves the host itself, refuses the connection
    when any address it resolves to is refused, and connects to the address it checked (never resolving
    twice), so DNS rebinding between check and connect cannot win. TLS still verifies the host name: httpcore
    passes the URL's host to `start_tls` as the server name, whatever address the socket went to."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout or self.policy.resolve_timeout_s):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError):
            raise httpcore.ConnectError(f"cannot resolve {host}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:  # every answer must pass: one forbidden address refuses the host
            try:
                self.policy.check_address(host, address, port)
            except EgressRefusedError as error:
                raise TargetEgressError(str(error)) from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise TargetEgressError("egress policy refuses unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(policy: EgressPolicy, tls: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through `GuardedBackend` (no proxy, no environment)."""
    transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # httpx has no parameter for the network backend
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport


class HttpConnector:
    """Base for connectors that speak JSON over HTTP through pooled httpx clients (one per 8 connections).

    With an `egress` policy (the platform) every connection is checked by `GuardedBackend`, proxies and
    .netrc from the environment are ignored, and redirects are never followed (httpx's default, kept).
    """

    #: How the API is named in "not ... endpoint" errors.
    api = "an HTTP JSON API"

    def __init__(self, config: TargetConfig, *, egress: EgressPolicy | None = None) -> None:
        self.config = config
        self.egress = egress
        pools = -(-config.max_concurrency // CONNECTIONS_PER_POOL)
        size = -(-config.max_concurrency // pools)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        tls = _tls_context()
        timeout = httpx.Timeout(config.timeout_s)
        if egress is None:
            self._clients = [httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls) for _ in range(pools)]
        else:
            self._clients = [
                httpx.AsyncClient(
                    timeout=timeout,
                    transport=guarded_transport(egress, tls, limits),
                    trust_env=False,
                    follow_redirects=False,
                )
                for _ in range(pools)
            ]
        self._in_flight = [0] * pools

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        """One request in the connector's API (each subclass speaks its own)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def _request(self, method: str, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        """Send on the least busy pool; read at most MAX_RESPONSE_BYTES of the answer."""
        index = min(range(len(self._clients)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            client = self._clients[index]
            request = client.build_request(method, url, json=body, headers=headers)
            response = await client.send(request, stream=True)
            try:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                    raise _too_large(response)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise _too_large(response)
                    chunks.append(chunk)
            finally:
                await response.aclose()
            response._content = b"".join(chunks)  # what `aread` would set: .content, .text and .json() work
            return response
        finally:
            self._in_flight[index] -= 1

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> tuple[httpx.Response, float]:
        """One request through the pools (and the egress policy), its failures classified as TargetErrors;
        returns the answer, whatever its status, and its latency in milliseconds."""
        check_headers(headers)
        started = time.perf_counter()
        try:
            response = await self._request(method, url, body, headers)
        except httpx.TimeoutException as error:
            raise TargetRetryableError(
                f"timed out after {self.config.timeout_s:g} s ({type(error).__name__})"
            ) from None
        except httpx.ConnectError as error:
            reason = clean_text(str(error), 160)
            raise TargetUnreachableError(f"cannot connect to {_url_for_errors(url)}: {reason}") from None
        except httpx.LocalProtocolError:
            raise TargetHeaderError("the request could not be sent: a header or the URL is not valid") from None
        except httpx.TransportError as error:
            raise TargetRetryableError(f"transport error: {describe_transport_error(error)}") from None
        except (httpx.InvalidURL, UnicodeError):
            raise TargetError("the request could not be sent: the target URL or a header is not valid") from None
        return response, (time.perf_counter() - started) * 1000

    async def post_json(self, url: str, body: Any, headers: dict[str, str], method: str = "POST") -> Any:
        """Send `body`, classify failures, return the decoded JSON answer (never quoting a body that is not
        an LLM API's JSON error)."""
        response, self.last_latency_ms = await self.request(method, url, headers, body)
        raise_for_status(response, headers)
        try:
            return response.json()
        except ValueError:
            raise not_an_endpoint(self.api, response, "the answer is not JSON") from None

    last_latency_ms: float | None = None


def _too_large(response: httpx.Response) -> TargetError:
    return TargetError(
        f"the answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB "
        f"(HTTP {response.status_code}, {content_type_of(response)})"
    )


def _url_for_errors(url: str) -> str:
    """The URL without its query (an Azure api-version is harmless, a `?key=` would not be)."""
    return clean_text(url.split("?", 1)[0], 200)


def raise_for_status(response: httpx.Response, headers: dict[str, str] | None = None) -> None:
    """Map an HTTP error status to the TargetError subclass the runner acts on.

    The message gives the status and content type, plus `error.message` when the body is an LLM API's JSON
    error; no other part of the body is ever quoted (it may come from anything that answered the URL).
    """
    status = response.status_code
    if status < 400:
        return
    body = response.text[:2000]
    summary = answer_summary(response, headers)
    filtered = looks_like_content_filter(body)
    if status in (401, 403) and not filtered:
        raise TargetAuthError(f"the target refused the credentials ({summary})", status=status)
    if filtered:
        raise TargetBlockedError(f"a content filter answered ({summary})", status=status)
    if status == 429 or status >= 500 or status == 408:
        raise TargetRetryableError(
            summary, status=status, retry_after=retry_after_seconds(response.headers.get("retry-after"))
        )
    raise TargetError(summary, status=status)


def bearer_headers(config: TargetConfig) -> dict[str, str]:
    """Content type, the configured headers, and `Authorization: Bearer` when a key is configured."""
    headers = {"content-type": "application/json", **config.resolved_headers()}
    key = config.api_key()
    if key is not None:
        headers.setdefault("authorization", f"Bearer {key.get_secret_value()}")
    return headers
