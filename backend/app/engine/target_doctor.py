"""Check a target before scanning it: reachable, credentials accepted, model known, latency, rate limits,
and whether it keeps conversation state between requests (which would let attempts contaminate each other).

Each check yields a line with ok/warning/error and, when something is wrong, what to fix.
"""

from __future__ import annotations

import secrets
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from app.engine.model import Message
from app.engine.targets.base import HttpConnector, bearer_headers
from app.engine.targets.errors import (
    TargetAuthError,
    TargetBlockedError,
    TargetEgressError,
    TargetError,
    TargetUnreachableError,
)
from app.engine.targets.http import HttpTemplateConnector
from app.engine.targets.resilience import ResilientConnector

PING = "Reply with the word OK."


@dataclass(frozen=True)
class Check:
    """One result of the target doctor."""

    name: str
    level: str  # ok | warning | error
    message: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def diagnose_target(connector: ResilientConnector, samples: int = 3) -> list[Check]:
    """Run the checks in order; stop after the first one that makes the rest meaningless."""
    checks: list[Check] = []
    latencies: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        try:
            await connector.send([Message("user", PING)])
        except TargetEgressError as error:
            return [Check("reachable", "error", str(error), "an administrator decides which addresses targets reach")]
        except TargetUnreachableError as error:
            return [Check("reachable", "error", str(error), "check base_url, the network and that the server runs")]
        except TargetAuthError as error:
            return [
                Check("reachable", "ok", "the server answers"),
                Check("credentials", "error", str(error), "check api_key_env / api_key_file and the key's access"),
            ]
        except TargetBlockedError as error:
            checks.append(
                Check(
                    "content-filter",
                    "warning",
                    f"a harmless request was blocked: {error}",
                    "the guardrail is very strict; blocked attempts will be reported as blocked",
                )
            )
            break
        except TargetError as error:
            return [
                Check(
                    "reachable",
                    "error",
                    f"the target answered with an error: {error}",
                    "check the model name, base_url path and request format (type)",
                )
            ]
        latencies.append((time.perf_counter() - started) * 1000)
    if latencies:
        checks.append(Check("reachable", "ok", "the server answers"))
        checks.append(
            Check(
                "credentials",
                "ok",
                f"sent ({sent}) and accepted"
                if (sent := connector.config.credential_summary())
                else "none configured, none required",
            )
        )
        median = statistics.median(latencies)
        level = "ok" if median < 10_000 else "warning"
        checks.append(
            Check(
                "latency",
                level,
                f"median {median:.0f} ms over {len(latencies)} requests",
                None if level == "ok" else "raise --timeout and lower --concurrency",
            )
        )
    checks.append(await _model_known(connector))
    rate_limited = connector.rate_limited
    checks.append(
        Check(
            "rate-limits",
            "ok" if not rate_limited else "warning",
            f"{rate_limited} HTTP 429 answers during these checks",
            None if not rate_limited else "set --rate below the target's limit",
        )
    )
    checks.append(await _stateless(connector))
    if isinstance(connector.inner, HttpTemplateConnector) and connector.inner.session is not None:
        checks.append(await _session(connector, connector.inner))
    return checks


async def _model_known(connector: ResilientConnector) -> Check:
    """For OpenAI-compatible targets: is the model in GET /models?"""
    config = connector.config
    inner = connector.inner
    if config.type != "openai" or not config.base_url or not isinstance(inner, HttpConnector):
        return Check("model", "ok", f"{config.model or 'n/a'} (not checked for {config.type} targets)")
    try:  # through the connector's own clients, so the egress policy applies here too
        response, _ = await inner.request("GET", f"{config.base_url.rstrip('/')}/models", bearer_headers(config))
        listed = response.json().get("data", []) if response.status_code == 200 else []
        names = [str(item.get("id"))[:100] for item in listed if isinstance(item.get("id"), str)]
    except (TargetError, ValueError, AttributeError, TypeError):
        names = []
    if not names:
        return Check("model", "ok", f"{config.model} (the target does not list its models)")
    if config.model in names:
        return Check("model", "ok", f"{config.model} is served")
    return Check(
        "model",
        "warning",
        f"{config.model} is not among the served models: {', '.join(names[:10])}",
        "pass --model with one of those names",
    )


async def _session(connector: ResilientConnector, inner: HttpTemplateConnector) -> Check:
    """A stateful http target: start a session, plant a code word, ask for it in the same session, end it."""
    assert inner.session is not None
    word = f"OTTER{secrets.token_hex(3).upper()}"
    await inner.end_open_sessions()  # the checks above left their conversations open
    started = inner.sessions_started
    plant = Message("user", f"Remember this code word for later: {word}. Reply with OK.")
    try:
        first = await connector.send([plant])
        ask = [
            plant,
            Message("assistant", first.text),
            Message("user", "What code word did I give you? Reply with it only."),
        ]
        answer = await connector.send(ask)
        opened = inner.sessions_started - started
        ended = await inner.end_open_sessions()
    except TargetError as error:
        return Check("session", "error", f"the session did not work: {error}", "check the target's session settings")
    source = f"id from the start answer's {inner.session.id_from} {inner.session.id}"
    closing = "ended" if inner.session.end is not None and ended else "no end request configured"
    if opened != 1:  # a failed turn ends its session; the retry rebuilds the conversation in a new one
        return Check(
            "session", "warning", f"one conversation took {opened} sessions ({source}): turns failed and were retried"
        )
    if word not in answer.text:
        return Check(
            "session",
            "warning",
            f"started ({source}), but the second turn did not get the code word back; {closing}",
            "check how the id is sent (session.header, session.cookie or {{session_id}} in the URL or template)",
        )
    return Check("session", "ok", f"started ({source}), two turns kept in one session, {closing}")


async def _stateless(connector: ResilientConnector) -> Check:
    """Plant a code word in one conversation and ask for it in a fresh one."""
    word = f"ZEBRA{secrets.token_hex(3).upper()}"
    try:
        await connector.send([Message("user", f"Remember this code word for later: {word}. Reply with OK.")])
        answer = await connector.send([Message("user", "What code word did I give you earlier? Reply with it only.")])
    except TargetError as error:
        return Check("conversation-state", "warning", f"could not check: {error}")
    if word in answer.text:
        return Check(
            "conversation-state",
            "warning",
            "the target remembers earlier requests across conversations",
            "attempts may influence each other; use --concurrency 1 and a fresh session per scan if possible",
        )
    return Check("conversation-state", "ok", "each request is independent")
