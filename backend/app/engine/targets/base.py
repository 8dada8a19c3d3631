"""The connector interface and the HTTP plumbing every HTTP connector shares."""

from __future__ import annotations

import email.utils
import functools
import ssl
import time
from typing import Any, Protocol

import certifi
import httpx

from app.engine.model import Message, TargetResponse
from app.engine.targets.config import TargetConfig
from app.engine.targets.errors import (
    TargetAuthError,
    TargetBlockedError,
    TargetError,
    TargetRetryableError,
    TargetUnreachableError,
    looks_like_content_filter,
)


class Connector(Protocol):
    """Sends one conversation to a target and returns its answer, or raises a classified TargetError."""

    config: TargetConfig

    async def send(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> TargetResponse:
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


class HttpConnector:
    """Base for connectors that speak JSON over HTTP through pooled httpx clients (one per 8 connections)."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        pools = -(-config.max_concurrency // CONNECTIONS_PER_POOL)
        size = -(-config.max_concurrency // pools)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        tls = _tls_context()
        self._clients = [
            httpx.AsyncClient(timeout=httpx.Timeout(config.timeout_s), limits=limits, verify=tls) for _ in range(pools)
        ]
        self._in_flight = [0] * pools

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def _request(self, method: str, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        """Send on the least busy pool."""
        index = min(range(len(self._clients)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            return await self._clients[index].request(method, url, json=body, headers=headers)
        finally:
            self._in_flight[index] -= 1

    async def post_json(self, url: str, body: Any, headers: dict[str, str], method: str = "POST") -> Any:
        """Send `body`, classify failures, return the decoded JSON answer."""
        started = time.perf_counter()
        try:
            response = await self._request(method, url, body, headers)
        except httpx.TimeoutException as error:
            raise TargetRetryableError(
                f"timed out after {self.config.timeout_s:g} s ({type(error).__name__})"
            ) from None
        except httpx.ConnectError as error:
            raise TargetUnreachableError(f"cannot connect to {url}: {error}") from None
        except httpx.TransportError as error:
            raise TargetRetryableError(f"transport error: {type(error).__name__}: {error}") from None
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        raise_for_status(response)
        try:
            return response.json()
        except ValueError:
            raise TargetError(f"the target answered HTTP {response.status_code} with a body that is not JSON") from None

    last_latency_ms: float | None = None


def raise_for_status(response: httpx.Response) -> None:
    """Map an HTTP error status to the TargetError subclass the runner acts on."""
    status = response.status_code
    if status < 400:
        return
    body = response.text[:2000]
    summary = f"HTTP {status}: {body[:300].strip() or response.reason_phrase}"
    if status in (401, 403) and not looks_like_content_filter(body):
        raise TargetAuthError(f"the target refused the credentials ({summary})", status=status)
    if looks_like_content_filter(body):
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
