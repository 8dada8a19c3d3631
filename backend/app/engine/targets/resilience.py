"""Retries, backoff and rate budgets around any connector.

A request is retried on transient failures (429, 5xx, timeouts) with exponential backoff and full jitter,
never sooner than the server's Retry-After. Requests and tokens per minute are paced by token buckets that
every concurrent attempt of a scan shares, so a scan stays inside the budget the target owner set.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from app.engine.model import Message, TargetResponse
from app.engine.targets.base import Connector
from app.engine.targets.errors import TargetRetryableError


class TokenBucket:
    """`rate_per_minute` units per minute, with at most `burst` units spent at once."""

    def __init__(self, rate_per_minute: float, burst: float = 1.0) -> None:
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, amount: float = 1.0) -> None:
        """Wait until `amount` units are available, then spend them."""
        amount = min(amount, self.capacity)
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate_per_second)
                self.updated = now
                if self.tokens >= amount:
                    self.tokens -= amount
                    return
                await asyncio.sleep((amount - self.tokens) / self.rate_per_second)


def estimate_tokens(messages: list[Message]) -> int:
    """Rough prompt size (four characters a token) for the tokens/minute budget before the answer is known."""
    return max(1, sum(len(m.content) for m in messages) // 4)


@dataclass
class SendStats:
    """What the resilience layer saw for one logical request."""

    tries: int = 0
    waited_s: float = 0.0


class ResilientConnector:
    """Wraps a connector with retries and budgets; the runner only talks to this."""

    def __init__(self, inner: Connector, *, rng: random.Random | None = None) -> None:
        self.inner = inner
        self.config = inner.config
        rpm, tpm = self.config.requests_per_minute, self.config.tokens_per_minute
        # requests are evenly spaced; tokens may be spent a second's worth at a time (one request's prompt)
        self._requests = TokenBucket(rpm) if rpm else None
        self._tokens = TokenBucket(tpm, burst=tpm / 60.0) if tpm else None
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.rate_limited = 0  # 429 answers seen, reported by `target test` and the scan summary
        self.retried = 0  # requests sent again after a transient failure (a running scan's page shows it)

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        stats: SendStats | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        """Send with retries; raises the last TargetRetryableError when the retries run out.

        `response_schema` (the JSON an attacker or judge must answer) is passed on only when the target's
        `response_format` asks for structured output."""
        structured = {"response_schema": response_schema} if response_schema and self.config.response_format else {}
        stats = stats or SendStats()
        attempt = 0
        while True:
            if self._requests:
                await self._requests.take()
            if self._tokens:
                await self._tokens.take(estimate_tokens(messages) + (self.config.max_tokens or 0))
            stats.tries += 1
            try:
                return await self.inner.send(messages, tools, **structured)
            except TargetRetryableError as error:
                if error.status == 429:
                    self.rate_limited += 1
                if attempt >= self.config.max_retries:
                    raise
                delay = self._backoff(attempt, error.retry_after)
                stats.waited_s += delay
                attempt += 1
                self.retried += 1
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * (2**attempt))
        delay = self._rng.uniform(0, ceiling)
        return max(delay, retry_after or 0.0)

    async def aclose(self) -> None:
        await self.inner.aclose()
