"""List what an MCP server offers, with the official MCP Python SDK (the optional `mcp` extra, imported here only).

A server is given as a URL (streamable HTTP) or as a command line (started as a subprocess, spoken to over its
stdin and stdout). The SDK's response cache is off: every listing asks the server again, which is what a rug-pull
check needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from typing import Any, TextIO

import anyio

from app.engine.mcp.checks import McpItem, ServerListing
from app.engine.targets.egress import EgressError, check_url

#: Pages read per list call at most (a server whose cursor never ends cannot hang the scan).
MAX_PAGES = 50
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class McpScanError(Exception):
    """A server cannot be started, reached or listed; the message says which and why (no secret in it)."""


def load_sdk() -> Any:
    """The `mcp` package, or a clear error naming the extra to install."""
    try:
        import mcp
    except ImportError:
        raise McpScanError(
            "secureai mcp needs the mcp extra: pip install 'secureai[mcp]' (or uv sync --extra mcp)"
        ) from None
    return mcp


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def fill_env(value: str) -> str:
    """A header value with ${NAME} references filled from the environment (secrets stay off the command line)."""

    def fill(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None:
            raise McpScanError(f"a header refers to ${{{match.group(1)}}}, which is not set")
        return found

    return _ENV_REFERENCE.sub(fill, value)


async def list_server(
    spec: str,
    *,
    listings: int = 2,
    timeout_s: float = 30.0,
    headers: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerListing:
    """Connect to the server SPEC and list its tools, prompts and resources `listings` times over one session."""
    with contextlib.ExitStack() as stack:
        return await _list(stack, spec, listings, timeout_s, headers, env)


async def _list(
    stack: contextlib.ExitStack,
    spec: str,
    listings: int,
    timeout_s: float,
    headers: Mapping[str, str] | None,
    env: Mapping[str, str] | None,
) -> ServerListing:
    mcp = load_sdk()
    transport = "streamable-http" if is_url(spec) else "stdio"
    server: Any
    errlog: TextIO | None = None
    if transport == "streamable-http":
        try:
            check_url(spec)
        except EgressError as error:
            raise McpScanError(f"{spec}: {error}") from None
        import httpx2

        http = httpx2.AsyncClient(headers=dict(headers or {}), timeout=timeout_s)
        from mcp.client.streamable_http import streamable_http_client

        server = streamable_http_client(spec, http_client=http)
        label = spec
    else:
        try:
            argv = shlex.split(spec)
        except ValueError as error:
            raise McpScanError(f"cannot read the server command {spec!r}: {error}") from None
        if not argv:
            raise McpScanError("an empty server command")
        from mcp.client.stdio import stdio_client

        # the server's stderr goes to a file: quoted (its last line) when it fails, kept out of our output
        errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace"))  # noqa: SIM115
        parameters = mcp.StdioServerParameters(command=argv[0], args=argv[1:], env=dict(env or {}) or None)
        server = stdio_client(parameters, errlog=errlog)
        label = spec
    result = ServerListing(label=label, transport=transport)
    try:
        with anyio.fail_after(timeout_s * (listings + 1)):
            async with mcp.Client(server, cache=None, read_timeout_seconds=timeout_s) as client:
                info = client.server_info
                if info is not None:
                    result.server_name, result.server_version = info.name, info.version
                result.instructions = client.instructions or ""
                capabilities = client.server_capabilities
                for _ in range(listings):
                    result.listings.append(await _listing(client, capabilities))
    except McpScanError:
        raise
    except TimeoutError:
        raise McpScanError(f"{label}: no answer within {timeout_s * (listings + 1):g} s") from None
    except Exception as error:  # the SDK, the subprocess or the network: one line naming the server
        said = _last_line(errlog)
        raise McpScanError(f"{label}: {_describe(error)}{f' (the server said: {said})' if said else ''}") from None
    return result


def _last_line(errlog: TextIO | None) -> str:
    """The last line a stdio server wrote to its stderr, cut to 200 characters."""
    if errlog is None:
        return ""
    errlog.seek(0)
    lines = [line.strip() for line in errlog.read()[-4000:].splitlines() if line.strip()]
    return " ".join(lines[-1].split())[:200] if lines else ""


def _describe(error: BaseException) -> str:
    """The first real error of an exception group (anyio task groups wrap them), as one line."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = " ".join(str(error).split())[:200]
    if isinstance(error, FileNotFoundError | PermissionError):
        return f"cannot start the server: {text}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _listing(client: Any, capabilities: Any) -> tuple[McpItem, ...]:
    """One listing of everything the server says it offers."""
    items: list[McpItem] = []
    if capabilities.tools is not None:
        for tool in await _pages(client.list_tools, "tools"):
            title = tool.title or (tool.annotations.title if tool.annotations and tool.annotations.title else "")
            items.append(McpItem("tool", tool.name, tool.description or "", dict(tool.input_schema), title=title))
    if capabilities.prompts is not None:
        for prompt in await _pages(client.list_prompts, "prompts"):
            arguments = [
                {"name": argument.name, "description": argument.description or "", "required": bool(argument.required)}
                for argument in prompt.arguments or []
            ]
            items.append(
                McpItem(
                    "prompt", prompt.name, prompt.description or "", {"arguments": arguments}, title=prompt.title or ""
                )
            )
    if capabilities.resources is not None:
        for resource in await _pages(client.list_resources, "resources"):
            items.append(
                McpItem(
                    "resource",
                    resource.name,
                    resource.description or "",
                    uri=str(resource.uri),
                    title=resource.title or "",
                )
            )
    return tuple(items)


async def _pages(method: Any, field: str) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await method(cursor=cursor)
        found.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            break
    return found
