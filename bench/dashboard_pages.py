#!/usr/bin/env python
"""Benchmark: the dashboard's heaviest pages on a large database, against the API requests behind them.

Loads a throw-away PostgreSQL database with `api_findings.load` (one target, `--scans` completed scans, the
attempts and findings spread over them, some triaged), starts `secureai serve`, signs in through the sign-in
form (cookies and CSRF token, as a browser) and, one request at a time on a keep-alive connection, times:

- the overview `/` against `GET /api/v1/summary` (the data it shows);
- the findings workspace, one row per weakness across scans with its history: unfiltered as the form sends it
  (`/findings?view=all&q=&target_id=&owasp=&triage=`), the latest scan of each target only, and filtered by
  severity and OWASP category, each against `GET /api/v1/weaknesses` with the same query;
- one finding's page `/findings/{id}` (evidence, history) against `GET /api/v1/findings/{id}`;
- two random scans compared `/compare?base=A&head=B` against `GET /api/v1/scans/{A}/compare/{B}`;
- a scan's page `/scans/{id}` (its 200 most reliable findings with evidence, compliance, the diff with the
  previous scan, the success charts per category and strategy) against
  `GET /api/v1/scans/{id}/findings?limit=200`.

The baseline is the API request in the same run: the page's own cost is what it adds (querying, rendering,
the session). Target (issue 15): p95 <= 150 ms for each page. Every answer must be 200.

    cd backend && .venv/bin/python ../bench/dashboard_pages.py [--attempts 200000] [--findings 40000]
        [--scans 40] [--requests 60] [--postgres URL]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from api_findings import PASSWORD, USERNAME, percentiles, serving_loaded_database

TARGET_P95_MS = 150.0
SEVERITIES = ("critical", "high", "medium", "low")
SORTS = ("severity", "-asr_low", "-last_seen", "title")
OWASP = tuple(f"LLM{n:02d}" for n in range(1, 11))


def _sign_in(client: httpx.Client) -> None:
    """As a browser: the sign-in page sets the CSRF cookie, the form posts it back."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    answer = client.post("/login", data={"username": USERNAME, "password": PASSWORD, "csrf_token": token.group(1)})
    assert answer.status_code == 303, answer.text[:500]


def _time(client: httpx.Client, path: str, samples: list[float], failures: list[str], **headers: str) -> int:
    started = time.perf_counter()
    answer = client.get(path, headers=headers)
    samples.append((time.perf_counter() - started) * 1000)
    if answer.status_code != 200:
        failures.append(f"{path}: {answer.status_code}")
    return len(answer.content)


def measure(base: str, scans: int, findings: int, requests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    failures: list[str] = []
    results: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=120) as browser, httpx.Client(base_url=base, timeout=120) as api:
        _sign_in(browser)
        login = api.post("/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD})
        login.raise_for_status()
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        html = {"Accept": "text/html"}

        def filtered() -> str:
            return f"severity={rng.choice(SEVERITIES)}&owasp={rng.choice(OWASP)}"

        def pair() -> tuple[int, int]:
            base, head = rng.sample(range(1, scans + 1), 2)
            return base, head

        def finding_id() -> int:
            return rng.randint(1, findings)

        pairs: dict[str, tuple[Callable[[], str], Callable[[], str]]] = {
            "overview_page": (lambda: "/", lambda: "/api/v1/summary"),
            "findings_page": (
                lambda: f"/findings?view=all&q=&target_id=&owasp=&triage=&sort={rng.choice(SORTS)}",
                lambda: f"/api/v1/weaknesses?target_id=&owasp=&sort={rng.choice(SORTS)}",
            ),
            "findings_latest_page": (
                lambda: "/findings?view=latest&target_id=",
                lambda: "/api/v1/weaknesses?view=latest",
            ),
            "findings_filtered_page": (
                lambda: f"/findings?{filtered()}",
                lambda: f"/api/v1/weaknesses?{filtered()}",
            ),
            "finding_page": (lambda: f"/findings/{finding_id()}", lambda: f"/api/v1/findings/{finding_id()}"),
            "compare_page": (
                lambda: "/compare?base={}&head={}".format(*pair()),
                lambda: "/api/v1/scans/{}/compare/{}".format(*pair()),
            ),
            "scan_page": (
                lambda: f"/scans/{rng.randint(2, scans)}",
                lambda: f"/api/v1/scans/{rng.randint(2, scans)}/findings?limit=200",
            ),
        }
        for page_path, api_path in pairs.values():  # warm-up: connections, templates, lazily imported code
            for _ in range(3):
                _time(browser, page_path(), [], failures, **html)
                _time(api, api_path(), [], failures, **bearer)
        for name, (page_path, api_path) in pairs.items():
            page_ms: list[float] = []
            api_ms: list[float] = []
            sizes = []
            for _ in range(requests):
                sizes.append(_time(browser, page_path(), page_ms, failures, **html))
                _time(api, api_path(), api_ms, failures, **bearer)
            page, baseline = percentiles(page_ms), percentiles(api_ms)
            results[name] = {
                "page_ms": page,
                "api_ms": baseline,
                "page_over_api_p50": round(page["p50"] / baseline["p50"], 2) if baseline["p50"] else None,
                "mean_page_kb": round(sum(sizes) / len(sizes) / 1024, 1),
            }
    results["failures"] = failures
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "dashboard_pages",
        "attempts": args.attempts,
        "findings": args.findings,
        "scans": args.scans,
    }
    with serving_loaded_database(args.postgres, args.attempts, args.findings, args.scans, args.seed) as served:
        base, _, loaded = served
        result["load_seconds"] = loaded["seconds"]
        measured = measure(base, args.scans, args.findings, args.requests, args.seed)
    result.update(measured)
    result["target_p95_ms"] = TARGET_P95_MS
    pages = [name for name in measured if name.endswith("_page")]
    result["meets_targets"] = not measured["failures"] and all(
        measured[name]["page_ms"].get("p95", math.inf) <= TARGET_P95_MS for name in pages
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--findings", type=int, default=40_000)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page and per API call")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SECUREAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server to create the throw-away database on",
    )
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
