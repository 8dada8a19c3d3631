"""`secureai mcp scan`: list every server, run the checks, score them like probes into a scan result document."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.engine.mcp.checks import CHECKS, McpItem, ServerListing, check_infos, check_servers, item_json, item_of
from app.engine.mcp.client import is_url, list_server
from app.engine.report_json import scan_result_json
from app.engine.scoring import score_records


async def scan_servers(
    specs: Sequence[str],
    *,
    listings: int = 2,
    timeout_s: float = 30.0,
    headers: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    baseline: Mapping[str, tuple[McpItem, ...]] | None = None,
) -> dict[str, Any]:
    """The `secureai.scan-result/v1` document of checking SPECS (each listed `listings` times); a server whose
    label is in `baseline` is held to that earlier listing for rug pulls."""
    started = datetime.now(UTC)
    servers: list[ServerListing] = []
    for spec in specs:
        if progress:
            progress(f"listing {spec} ({'streamable HTTP' if is_url(spec) else 'stdio'}, {listings} times)")
        servers.append(
            await list_server(
                spec,
                listings=listings,
                timeout_s=timeout_s,
                headers=headers if is_url(spec) else None,
                env=None if is_url(spec) else env,
            )
        )
        servers[-1].baseline = (baseline or {}).get(servers[-1].label)
    records = check_servers(servers)
    meta = {
        "source": "mcp",
        "target": "mcp:" + ",".join(server.label for server in servers),
        "selection": ",".join(CHECKS),
        "started_at": started.isoformat(timespec="seconds"),
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "attempts_planned": len(records),
        "mcp": {"listings": listings, "servers": [_server_json(server) for server in servers]},
    }
    return scan_result_json(score_records(records, check_infos()), meta)


def _server_json(server: ServerListing) -> dict[str, Any]:
    first = server.listings[0] if server.listings else ()
    return {
        "label": server.label,
        "transport": server.transport,
        "name": server.server_name,
        "version": server.server_version,
        "tools": sum(item.kind == "tool" for item in first),
        "prompts": sum(item.kind == "prompt" for item in first),
        "resources": sum(item.kind == "resource" for item in first),
        "compared_with_baseline": server.baseline is not None,
        "listing": [item_json(item) for item in first],
    }


def baseline_of(document: Any) -> dict[str, tuple[McpItem, ...]]:
    """Each server's first listing from an earlier `secureai mcp scan` result, by label; ValueError when the
    document is not one."""
    mcp = document.get("mcp") if isinstance(document, dict) else None
    servers = mcp.get("servers") if isinstance(mcp, dict) else None
    if not isinstance(servers, list):
        raise ValueError("not a secureai mcp scan result (no mcp.servers)")
    found: dict[str, tuple[McpItem, ...]] = {}
    for server in servers:
        if not isinstance(server, dict) or not isinstance(server.get("listing"), list):
            raise ValueError("a server of the result has no listing (written by an older secureai?)")
        found[str(server.get("label"))] = tuple(item_of(item) for item in server["listing"])
    return found
