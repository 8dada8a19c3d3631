#!/usr/bin/env python
"""Benchmark: scan throughput against a local OpenAI-compatible server with a fixed latency.

Starts a lean fixed-latency OpenAI-compatible server (bench/_fixed_latency_server.py, so that the server is not
the limit) in its own process, then runs 2,000 attempts at concurrency 64 through the real runner (connector,
retries layer, detectors, JSONL checkpoint after every attempt), once with 100 ms latency and once with none.
Single-turn probes only, so one attempt is one request. Prints one JSON line: attempts/s, the latency-bound
limit (concurrency / latency) and the ratio to it, CPU ms per attempt of the scanner and of the server, peak
RSS; and, as the ceiling to compare with, the same requests through the HTTP client alone.
Then, as a user runs them, `secureai scan` as a fresh process (start-up, planning, scan, scoring the log) and
garak 0.17+ (from its own virtualenv: `garak` on PATH or --garak PATH; skipped when absent) against the same
100 ms server at the same concurrency with about as many requests, each timed from launch to exit.
Targets (issue 4): >= 0.9 of the limit at 100 ms; >= 1,000 attempts/s at zero latency; issue 16: the
`secureai scan` process >= 0.85 of the limit.

    cd backend && .venv/bin/python ../bench/scan_throughput.py [--attempts 2000] [--concurrency 64] [--garak PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
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
from app.engine.plan import build_plan, profile_counts
from app.engine.probes.registry import select
from app.engine.runner import Runner
from app.engine.sinks import JsonlSink, iter_records
from app.engine.targets import TargetConfig, build_connector
from app.engine.targets.base import HttpConnector


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(latency: float, count_file: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """The lean fixed-latency server (bench/_fixed_latency_server.py) in its own process; with `count_file` it
    writes there, when terminated, how many chat completions it answered."""
    port = _free_port()
    counting = [str(count_file)] if count_file else []
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_fixed_latency_server.py")), str(port), str(latency), *counting],
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


def _cpu_seconds(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    """User + system CPU between two `resource.getrusage` readings."""
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _attempt_figures(latency: float, attempts: int, concurrency: int, seconds: float, cpu: float) -> dict[str, Any]:
    """What the in-process and the process runs both report of `attempts` made in `seconds` with `cpu` seconds."""
    return {
        "latency_ms": latency * 1000,
        "attempts": attempts,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "attempts_per_s": round(attempts / seconds, 1),
        "cpu_ms_per_attempt": round(cpu * 1000 / attempts, 3),
    }


def run_once(latency: float, attempts: int, concurrency: int) -> dict[str, Any]:
    process, url = start_server(latency)
    try:
        # single-turn attempts only, so that one attempt is one request and concurrency / latency is the limit
        probes = [p for p in select("pack:system_prompt_leak") if all(len(turns) == 1 for turns in p.attempts)]
        # every prompt of each probe (`full`): the default profile would take two per probe and plan far fewer
        per_repeat = profile_counts(probes, [()])["full"]
        plan = build_plan(probes, [()], repeat=-(-attempts // per_repeat), scan_seed=1, profile="full")[:attempts]
        if len(plan) != attempts:
            raise RuntimeError(f"planned {len(plan)} attempts, not {attempts}")
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
    rate = attempts / seconds
    result = _attempt_figures(latency, attempts, concurrency, seconds, _cpu_seconds(cpu_before, cpu_after))
    result["server_cpu_ms_per_attempt"] = round(server_cpu_s * 1000 / attempts, 3)
    if latency:
        limit = concurrency / latency
        result.update({"latency_bound_limit_per_s": round(limit, 1), "ratio_to_limit": round(rate / limit, 3)})
    return result


def end_to_end(latency: float, attempts: int, concurrency: int) -> dict[str, Any]:
    """`secureai scan` as a user runs it, in a fresh process: start-up, planning, the scan, scoring the log and
    the summary, timed from launch to exit against the same server and the same single-turn probes (issue 16's
    target: >= 0.85 of the latency-bound limit). The probes are selected by id under `--profile full`, so the
    run makes `repeat` x their prompts attempts, at least `attempts`."""
    process, url = start_server(latency)
    probes = [p for p in select("pack:system_prompt_leak") if all(len(turns) == 1 for turns in p.attempts)]
    repeat = -(-attempts // profile_counts(probes, [()])["full"])
    secureai = Path(sys.executable).with_name("secureai")
    try:
        with tempfile.TemporaryDirectory() as directory:
            log = Path(directory) / "r.jsonl"
            command = [str(secureai), "scan", "-t", f"openai:sim@{url}", "-p", ",".join(f"id:{p.id}" for p in probes)]
            command += ["--profile", "full", "--repeat", str(repeat), "--concurrency", str(concurrency)]
            command += ["-o", str(log), "--format", "json"]
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode not in (0, 1):  # 1: findings at or above --fail-on, still a finished scan
                raise RuntimeError(f"secureai scan exited {done.returncode}: {done.stderr.decode()[-500:]}")
            made = sum(1 for record in iter_records(log))
    finally:
        process.terminate()
        process.wait(timeout=10)
    result = _attempt_figures(latency, made, concurrency, seconds, _cpu_seconds(children, after))
    if latency:
        result["ratio_to_limit"] = round(made / seconds / (concurrency / latency), 3)
    return result


#: garak's probe for the comparison: 256 single-turn prompts (hex-encoded payloads) with string detectors, so
#: garak needs no model of its own; `--generations` repeats each prompt.
GARAK_PROBE = "encoding.InjectHex"
GARAK_PROMPTS = 256


def garak_run(garak: Path, latency: float, requests: int, concurrency: int) -> dict[str, Any]:
    """garak (its own installation, `garak` on PATH or --garak PATH) against the same server at the same
    concurrency, sending about as many requests as SecureAI's process run: `GARAK_PROMPTS` prompts x
    generations. Timed from launch to exit like `secureai scan`; the server counts what garak sent."""
    generations = max(1, round(requests / GARAK_PROMPTS))
    with tempfile.TemporaryDirectory() as directory:
        count_file = Path(directory) / "answered"
        process, url = start_server(latency, count_file)
        options = json.dumps({"openai": {"OpenAICompatible": {"uri": url + "/"}}})
        command = [str(garak), "--target_type", "openai.OpenAICompatible", "--target_name", "bench"]
        command += ["--generator_options", options, "--probes", GARAK_PROBE, "--generations", str(generations)]
        command += ["--parallel_attempts", str(concurrency)]
        # garak's reports, logs and caches go to the temporary directory; the key is the generator's variable
        home = {name: directory for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
        env = {**os.environ, **home, "OPENAICOMPATIBLE_API_KEY": "bench"}
        try:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, check=False)
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        finally:
            process.terminate()
            process.wait(timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"garak exited {done.returncode}: {done.stderr.decode()[-500:]}")
        sent = int(count_file.read_text())
    cpu = _cpu_seconds(children, after)
    rate = sent / seconds
    version = subprocess.run([str(garak), "--version"], capture_output=True, text=True, check=False).stdout
    return {
        "version": version.strip().splitlines()[0].split(" (")[0] if version.strip() else "unknown",
        "probe": GARAK_PROBE,
        "generations": generations,
        "requests": sent,
        "seconds": round(seconds, 3),
        "requests_per_s": round(rate, 1),
        "cpu_ms_per_request": round(cpu * 1000 / sent, 3),
        "ratio_to_limit": round(rate / (concurrency / latency), 3),
    }


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
    parser.add_argument(
        "--garak",
        type=Path,
        default=None,
        help="garak's executable in its own virtualenv (default: `garak` on PATH; skipped when there is none)",
    )
    args = parser.parse_args()
    garak = args.garak or (Path(found) if (found := shutil.which("garak")) else None)
    with_latency = run_once(0.1, args.attempts, args.concurrency)
    zero = run_once(0.0, args.attempts, args.concurrency)
    ceiling = client_ceiling(0.1, args.attempts, args.concurrency)
    process_run = end_to_end(0.1, args.attempts, args.concurrency)
    garak_figures: dict[str, Any] | str = (
        garak_run(garak, 0.1, process_run["attempts"], args.concurrency)
        if garak
        else "not installed (install garak in its own virtualenv and pass --garak PATH)"
    )
    print(
        json.dumps(
            {
                "benchmark": "scan_throughput",
                "latency_100ms": with_latency,
                "latency_0ms": zero,
                "http_client_alone_100ms": ceiling,
                "secureai_scan_process_100ms": process_run,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "targets": {
                    "ratio_to_limit_at_100ms": 0.9,
                    "attempts_per_s_at_0ms": 1000,
                    "process_ratio_to_limit_at_100ms": 0.85,
                },
                "meets_targets": with_latency["ratio_to_limit"] >= 0.9
                and zero["attempts_per_s"] >= 1000
                and process_run["ratio_to_limit"] >= 0.85,
                "garak_process_100ms": garak_figures,
            }
        )
    )


if __name__ == "__main__":
    main()
