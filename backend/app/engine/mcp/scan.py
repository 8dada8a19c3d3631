"""`secureai mcp scan`: list every server, run the checks, score them like probes into a scan result document."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.engine.mcp.checks import CHECKS, ServerListing, check_infos, check_servers
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
) -> dict[str, Any]:
    """The `secureai.scan-result/v1` document of checking SPECS (each listed `listings` times)."""
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
    }
