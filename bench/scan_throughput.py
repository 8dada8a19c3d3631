#!/usr/bin/env python
"""Benchmark: scan throughput against a local OpenAI-compatible server with a fixed latency.

Starts a lean fixed-latency OpenAI-compatible server (bench/_fixed_latency_server.py, so that the server is not
the limit) in its own process, then runs 2,000 attempts at concurrency 64 through the real runner (connector,
retries layer, detectors, JSONL checkpoint after every attempt), once with 100 ms latency and once with none.
Single-turn probes only, so one attempt is one request. Prints one JSON line: attempts/s, the latency-bound
limit (concurrency / latency) and the ratio to it, CPU ms per attempt of the scanner and of the server, peak
RSS; and, as the ceiling to compare with, the same requests through the HTTP client alone.
Targets (issue 4): >= 0.9 of the limit at 100 ms; >= 1,000 attempts/s at zero latency. garak, when installed,
would be run on the same work for comparison; it is optional and reported as absent otherwise.

    cd backend && .venv/bin/python ../bench/scan_throughput.py [--attempts 2000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

BACKEND = Path(__file__).resolve().parents[1] / "backend"
sys.path.insert(0, str(BACKEND))

import httpx
from app.engine.plan import build_plan
from app.engine.probes.registry import select
from app.engine.runner import Runner
from app.engine.sinks import JsonlSink
from app.engine.targets import TargetConfig, build_connector
from app.engine.targets.base import HttpConnector


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    """The lean fixed-latency server (bench/_fixed_latency_server.py) in its own process."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_fixed_latency_server.py")), str(port), str(latency)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            httpx.get(f"{url}/models", timeout=0.5)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux /proc), to show whether the server was the limit."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(latency: float, attempts: int, concurrency: int) -> dict[str, Any]:
    process, url = start_server(latency)
    try:
        # single-turn attempts only, so that one attempt is one request and concurrency / latency is the limit
        probes = [p for p in select("pack:system_prompt_leak") if all(len(turns) == 1 for turns in p.attempts)]
        per_repeat = sum(len(probe.attempts) for probe in probes)
        plan = build_plan(probes, [()], repeat=-(-attempts // per_repeat), scan_seed=1)[:attempts]
        config = TargetConfig(type="openai", base_url=url, model="sim", max_concurrency=concurrency, timeout_s=30)
        with tempfile.TemporaryDirectory() as directory:
            sink = JsonlSink(Path(directory) / "r.jsonl", resume=False)
            connector = build_connector(config)

            async def go() -> None:
                try:
                    await Runner(connector, sink, concurrency=concurrency).run(plan)
                finally:
                    await connector.aclose()

            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            asyncio.run(go())
            seconds = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            sink.close()
        server_cpu_s = _process_cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    rate = attempts / seconds
    result: dict[str, Any] = {
        "latency_ms": latency * 1000,
        "attempts": attempts,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "attempts_per_s": round(rate, 1),
        "cpu_ms_per_attempt": round(cpu * 1000 / attempts, 3),
        "server_cpu_ms_per_attempt": round(server_cpu_s * 1000 / attempts, 3),
    }
    if latency:
        limit = concurrency / latency
        result.update({"latency_bound_limit_per_s": round(limit, 1), "ratio_to_limit": round(rate / limit, 3)})
    return result


def client_ceiling(latency: float, requests: int, concurrency: int) -> dict[str, Any]:
    """The same requests through the connector's HTTP client alone (no plan, detectors or checkpoint).

    This is the most the runner could reach on this machine with this client; the gap between the two is
    what SecureAI itself costs.
    """
    process, url = start_server(latency)
    body = {"model": "bench", "messages": [{"role": "user", "content": "x" * 400}]}
    try:
        connector = build_connector(
            TargetConfig(type="openai", base_url=url, model="b", max_concurrency=concurrency, timeout_s=30)
        )
        client = cast(HttpConnector, connector.inner)
        left = [requests]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await client.post_json(f"{url}/chat/completions", body, {})

        async def go() -> float:
            started = time.perf_counter()
            try:
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            finally:
                await connector.aclose()
            return time.perf_counter() - started

        seconds = asyncio.run(go())
    finally:
        process.terminate()
        process.wait(timeout=10)
    rate = requests / seconds
    result = {"requests_per_s": round(rate, 1)}
    if latency:
        result["ratio_to_limit"] = round(rate / (concurrency / latency), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with_latency = run_once(0.1, args.attempts, args.concurrency)
    zero = run_once(0.0, args.attempts, args.concurrency)
    ceiling = client_ceiling(0.1, args.attempts, args.concurrency)
    print(
        json.dumps(
            {
                "benchmark": "scan_throughput",
                "latency_100ms": with_latency,
                "latency_0ms": zero,
                "http_client_alone_100ms": ceiling,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "targets": {"ratio_to_limit_at_100ms": 0.9, "attempts_per_s_at_0ms": 1000},
                "meets_targets": with_latency["ratio_to_limit"] >= 0.9 and zero["attempts_per_s"] >= 1000,
                "garak": "installed but not wired" if importlib.util.find_spec("garak") else "not installed (optional)",
            }
        )
    )


if __name__ == "__main__":
    main()
