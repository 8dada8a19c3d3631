#!/usr/bin/env python
"""Benchmark: upgrade a legacy SecureAI database with 100,000 findings to head, on SQLite and PostgreSQL.

Builds a database with the legacy schema and the legacy data shape (upper-case enum names, plaintext model
configs, Unicode evidence, JSON extras, a few odd rows), then times `upgrade head` in a fresh process per run
and reads that process's peak RSS. A run with a tenth of the findings gives the memory baseline: flat memory
means the 100k run's peak is about the same as the 10k run's. Target (issue 3): <= 10 s on SQLite for 100k.

    cd backend && .venv/bin/python ../bench/migrate_legacy.py [--findings 100000] [--postgres URL]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

BACKEND = Path(__file__).resolve().parents[1] / "backend"
sys.path.insert(0, str(BACKEND))

from app.db.legacy import copy_legacy_database
from app.db.migrate import LEGACY_REVISION, upgrade
from app.db.tempdb import temporary_database
from sqlalchemy import MetaData, Table, create_engine
from sqlalchemy.exc import OperationalError

TARGET_SQLITE_SECONDS = 10.0
BATCH = 5000
TEXTS = [
    "Ignore previous instructions",
    "系统提示泄露",
    "مرحبا بالعالم",
    "emoji 🔥🛡️",
    "zero\u200bwidth",
    'quote " and \\ backslash',
    "line\nbreak",
    "",
]


def _rows(count: int, make: Any) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for index in range(1, count + 1):
        batch.append(make(index))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build_legacy_sqlite(path: Path, findings: int, seed: int = 7) -> dict[str, int]:
    """A legacy-shaped SQLite database at revision 6f650d08cf3d with `findings` vulnerabilities."""
    rng = random.Random(seed)
    url = f"sqlite:///{path}"
    upgrade(url, LEGACY_REVISION)
    engine = create_engine(url)
    start = datetime(2025, 6, 1, 10)
    users, scans = 50, max(1, findings // 50)
    counts = {
        "users": users,
        "scans": scans,
        "vulnerabilities": findings,
        "compliance_mappings": findings,
        "audit_logs": findings // 2,
    }
    makers = {
        "users": lambda i: {
            "id": i,
            "username": f"user{i:04d}",
            "hashed_password": "$2b$04$" + "x" * 53,
            "email": "shared@legacy.example" if i in (7, 8) else f"user{i:04d}@legacy.example",
            "full_name": rng.choice(TEXTS),
            "role": None if i == 9 else rng.choice(["ADMIN", "USER", "VIEWER"]),
            "is_active": True,
            "created_at": start,
            "updated_at": start,
        },
        "scans": lambda i: {
            "id": i,
            "name": f"scan {i} {rng.choice(TEXTS)}",
            "description": rng.choice(TEXTS),
            "model_name": "gpt-4o-mini",
            "model_type": rng.choice(["openai", "rest", "huggingface", "local"]),
            "model_config": {"api_key": f"sk-bench-{i:06d}", "headers": {"Authorization": f"Bearer sk-{i}"}},
            "scanner_type": rng.choice(["BUILTIN", "GARAK", "LLMTOP10", "ALL"]),
            "status": rng.choice(["COMPLETED", "FAILED", "PENDING", "RUNNING", "CANCELLED"]),
            "progress": 100.0,
            "results": {"probes": rng.randint(1, 50)},
            "vulnerability_count": 50,
            "risk_score": rng.random() * 10,
            "started_at": start + timedelta(hours=i),
            "completed_at": start + timedelta(hours=i, minutes=5),
            "duration": 300,
            "created_by": rng.randint(1, users),
            "created_at": start,
            "updated_at": start,
        },
        "vulnerabilities": lambda i: {
            "id": i,
            "scan_id": (i - 1) % scans + 1,
            "title": f"finding {i}",
            "description": rng.choice(TEXTS),
            "severity": rng.choice(["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", None]),
            "probe_name": f"probe.{i % 97}",
            "probe_category": "LLM01",
            "evidence": rng.choice(TEXTS) * 3,
            "remediation": "fix it",
            "cvss_score": round(rng.random() * 10, 1),
            "extra_data": {"asr": rng.random(), "tags": ["x", "y"]},
            "created_at": start,
        },
        "compliance_mappings": lambda i: {
            "id": i,
            "scan_id": (i - 1) % scans + 1,
            "framework": "OWASP",
            "requirement_id": f"LLM{i % 10 + 1:02d}",
            "requirement_name": "requirement",
            "compliance_status": rng.choice(["COMPLIANT", "PARTIAL", "NON_COMPLIANT", "NOT_ASSESSED"]),
            "evidence": rng.choice(TEXTS),
            "vulnerability_ids": [i],
            "created_at": start,
            "updated_at": start,
        },
        "audit_logs": lambda i: {
            "id": i,
            "user_id": rng.randint(1, users),
            "action": "scan.create",
            "resource_type": "scan",
            "resource_id": i,
            "details": {"n": i},
            "ip_address": "10.0.0.1",
            "user_agent": "bench",
            "created_at": start,
        },
    }
    with engine.begin() as connection:
        for name, count in counts.items():
            table = Table(name, MetaData(), autoload_with=connection)
            for batch in _rows(count, makers[name]):
                connection.execute(table.insert(), batch)
    engine.dispose()
    return counts


def timed_upgrade(url: str) -> dict[str, float]:
    """`upgrade head` in a fresh Python process: wall seconds and that process's peak RSS."""
    code = "import sys; from app.db.migrate import upgrade; upgrade(sys.argv[1])"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, url], cwd=BACKEND, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(max(peak_kib, before) / 1024, 1)}


def run(findings: int, postgres: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "migrate_legacy", "findings": findings}
    with tempfile.TemporaryDirectory() as directory:
        small_path, large_path = Path(directory) / "small.db", Path(directory) / "large.db"
        build_legacy_sqlite(small_path, findings // 10)
        counts = build_legacy_sqlite(large_path, findings)
        total_rows = sum(counts.values())
        small = timed_upgrade(f"sqlite:///{small_path}")  # first: RUSAGE_CHILDREN keeps the maximum
        large = timed_upgrade(f"sqlite:///{large_path}")
        result["rows"] = total_rows
        result["sqlite"] = {**large, "rows_per_s": round(total_rows / large["seconds"])}
        result["sqlite_baseline_10pct"] = small
        result["target_sqlite_seconds"] = TARGET_SQLITE_SECONDS
        result["meets_target"] = large["seconds"] <= TARGET_SQLITE_SECONDS
        result["memory_flat"] = large["peak_rss_mb"] <= small["peak_rss_mb"] * 1.25
        if postgres:
            try:
                with temporary_database(postgres, prefix="secureai_bench") as url:
                    copy_legacy_database(large_path, url)
                    pg = timed_upgrade(url)
                result["postgresql"] = {**pg, "rows_per_s": round(total_rows / pg["seconds"])}
            except OperationalError as error:
                result["postgresql"] = {"skipped": f"PostgreSQL not reachable: {str(error.orig).splitlines()[0]}"}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SECUREAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server for the second run ('' to skip)",
    )
    args = parser.parse_args()
    print(json.dumps(run(args.findings, args.postgres or None)))


if __name__ == "__main__":
    main()
