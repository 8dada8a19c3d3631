#!/usr/bin/env python
"""Benchmark: how well judge models agree with the hand-labelled judge calibration set.

Each judge grades the cases of `app/engine/data/judge_calibration.jsonl` (378 cases, its README says how they
were written and labelled; `--limit N` keeps the first N) through `app.engine.calibration.calibrate`, exactly as
`secureai judge calibrate` does: the grading message a scan sends, one repair turn for a reply that does not
parse, and a reply that still does not parse is a judge error, reported apart and never scored. Figures per
judge: accuracy, false-positive rate (says "condition met" when the attack failed), false-negative rate, Cohen's
kappa (agreement beyond chance), each with its 95 % interval (Wilson; a seeded bootstrap for kappa), overall and
per case kind; how many replies needed the repair turn and how many never parsed; the same headline figures with
errors counted as "not met" (what a scan makes of a judge error: no judge verdict, so no finding from it);
seconds per case; and the judge's first few raw replies (a case's reply, then its repair reply when it needed
one), to show what a judge that does not parse says instead.

Judges:
- the rule-based judge double (`app.demo.roles.judge_reply`, served by `running_simulator("judge")`);
- Gemma 3 270M, the real local model, served by `secureai demo-model` (llama.cpp's OpenAI-compatible server;
  docs/local-model.md) in a temporary data directory, one request at a time, temperature 0, with a completion
  cap of `--model-max-tokens` (default 64: the verdict object the protocol asks for is ~30 tokens) and
  `--threads` inference threads. `--no-model` skips it; without the `local-model` extra it is reported as not
  installed;
- any judge given with `--judge SPEC` (a target file or TYPE:MODEL[@BASE_URL], as the CLI takes it; repeatable).

Baseline in the same run, computed from the labels alone (no server): a judge that always says "condition met"
and one that always says "not met". Both have kappa 0 by construction and accuracy equal to the share of the
label they always give, which is what a judge's accuracy and kappa are to be read against.

    cd backend && .venv/bin/python ../bench/judge_agreement.py [--limit N] [--no-model] [--judge SPEC]

Progress goes to stderr; one JSON line `{"bench": "judge_agreement", ...}` to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BACKEND = Path(__file__).resolve().parents[1] / "backend"
sys.path.insert(0, str(BACKEND))

from app.demo.local_model import EXTRA_HINT, MODEL_ALIAS, installed
from app.demo.simulator import running_simulator
from app.engine.calibration import DEFAULT_SET, CalibrationCase, agreement, calibrate, load_cases
from app.engine.model import Message, TargetResponse
from app.engine.targets import TargetConfig, build_connector, load_target_config
from app.engine.targets.base import Connector
from app.engine.targets.resilience import ResilientConnector, SendStats

SAMPLE_REPLIES = 4
HEADLINE = ("accuracy", "false_positive_rate", "false_negative_rate", "kappa")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SamplingConnector(ResilientConnector):
    """The judge's connector, keeping its first few replies as examples."""

    def __init__(self, inner: Connector) -> None:
        super().__init__(inner)
        self.replies: list[str] = []

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        stats: SendStats | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        response = await super().send(messages, tools, stats, response_schema=response_schema)
        if len(self.replies) < SAMPLE_REPLIES:
            self.replies.append(response.text[:200])
        return response


def _tidy(value: Any) -> Any:
    """`value` with negative zeros (a rounded bootstrap bound of a constant judge) written as 0.0."""
    if isinstance(value, dict):
        return {key: _tidy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    return 0.0 if isinstance(value, float) and value == 0 else value


def by_kind(cases: Sequence[CalibrationCase], answers: dict[str, bool | None]) -> dict[str, Any]:
    """The headline figures per case kind over the graded cases (errors left out)."""
    kinds: dict[str, list[tuple[bool, bool]]] = {}
    for case in cases:
        answer = answers.get(case.id)
        if answer is not None:
            kinds.setdefault(case.kind, []).append((answer, case.label))
    return {kind: _headline(agreement(pairs)) for kind, pairs in sorted(kinds.items())}


def _headline(figures: dict[str, Any]) -> dict[str, Any]:
    return {name: figures[name] for name in (*HEADLINE, "confusion")}


def grade(config: TargetConfig, cases: Sequence[CalibrationCase], name: str) -> dict[str, Any]:
    """Calibrate one judge over `cases`; progress on stderr."""
    answers: dict[str, bool | None] = {}
    started = time.perf_counter()

    def on_case(case: CalibrationCase, answer: bool | None) -> None:
        answers[case.id] = answer
        errors = sum(value is None for value in answers.values())
        elapsed = time.perf_counter() - started
        print(
            f"[{name}] {len(answers)}/{len(cases)} {case.id} label {case.label} judge {answer} "
            f"({errors} errors, {elapsed:.0f} s, {elapsed / len(answers):.2f} s/case)",
            file=sys.stderr,
            flush=True,
        )

    connector = SamplingConnector(build_connector(config).inner)

    async def run() -> dict[str, Any]:
        try:
            return await calibrate(connector, cases, label=config.label, source=DEFAULT_SET, on_case=on_case)
        finally:
            await connector.aclose()

    result = asyncio.run(run())
    seconds = time.perf_counter() - started
    # every case is asked once; a reply that does not parse gets one repair turn (REPAIR_ATTEMPTS)
    repaired = result["usage"]["requests"] - len(cases)
    as_not_met = agreement([(answers.get(case.id) is True, case.label) for case in cases])
    return {
        "judge": config.label,
        "cases": len(cases),
        "graded": result["graded"],
        "errors": result["errors"],
        "replies_needing_repair": repaired,
        "parsed_first_time": len(cases) - repaired,
        "said_condition_met": sum(answer is True for answer in answers.values()),
        **_headline(result),
        "by_kind": by_kind(cases, answers),
        "by_owasp_accuracy": result["by_owasp"],
        "errors_as_not_met": {name: as_not_met[name] for name in HEADLINE},
        "error_examples": {key: value[:200] for key, value in list(result["error_examples"].items())[:3]},
        "sample_replies": connector.replies,
        "requests": result["usage"]["requests"],
        "seconds": round(seconds, 1),
        "seconds_per_case": round(seconds / len(cases), 3) if cases else None,
    }


def constant_judge(cases: Sequence[CalibrationCase], says: bool) -> dict[str, Any]:
    """The figures of a judge that always gives the same answer, from the labels alone."""
    answers: dict[str, bool | None] = {case.id: says for case in cases}
    return {
        **_headline(agreement([(says, case.label) for case in cases])),
        "by_kind_accuracy": {kind: figures["accuracy"] for kind, figures in by_kind(cases, answers).items()},
    }


@contextmanager
def demo_model(threads: int) -> Iterator[tuple[str, float]]:
    """`secureai demo-model` on a free port with a temporary data directory; yields (base URL, start seconds)."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="judge-agreement-") as directory:
        log_path = Path(directory) / "demo-model.log"
        secureai = str(Path(sys.executable).parent / "secureai")
        started = time.perf_counter()
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [secureai, "demo-model", "--port", str(port), "--threads", str(threads)],
                cwd=BACKEND,
                env={**os.environ, "SECUREAI_DATA_DIR": str(Path(directory) / "data")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the model server goes with it
            )
            try:
                deadline = time.monotonic() + 600
                while not any(line.startswith("serving at ") for line in log_path.read_text().splitlines()):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"secureai demo-model did not start: {log_path.read_text()[-1000:]}")
                    time.sleep(0.2)
                for line in log_path.read_text().splitlines():
                    if line.startswith(("Gemma 3 270M", "check: ", "serving at ")):
                        print(f"[gemma] {line}", file=sys.stderr, flush=True)
                yield f"http://127.0.0.1:{port}/v1", time.perf_counter() - started
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="grade only the first N cases (default: all)")
    parser.add_argument("--no-model", action="store_true", help="skip Gemma 3 270M")
    parser.add_argument(
        "--judge", action="append", default=[], metavar="SPEC", help="another judge: a target file or TYPE:MODEL@URL"
    )
    parser.add_argument("--model-max-tokens", type=int, default=64, help="Gemma's completion cap (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="Gemma's inference threads (default 2)")
    args = parser.parse_args()
    # a SIGTERM unwinds like Ctrl-C, so the model server and its temporary directory are cleaned up
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load_before = os.getloadavg()
    started = time.perf_counter()
    cases = load_cases(DEFAULT_SET)[: args.limit]
    judges: dict[str, Any] = {}
    with running_simulator("judge") as (url, _):
        double = TargetConfig(type="openai", base_url=url, model="judge-double", name="rule-based judge double")
        judges["rule_double"] = grade(double, cases, "rule double")
    for spec in args.judge:
        config = load_target_config(spec)
        judges[config.label] = grade(config, cases, config.label)
    if args.no_model:
        judges["gemma"] = {"skipped": "--no-model"}
    elif not installed():
        judges["gemma"] = {"skipped": EXTRA_HINT}
    else:
        with demo_model(args.threads) as (url, start_s):
            config = TargetConfig(
                type="openai",
                base_url=url,
                model=MODEL_ALIAS,
                name="gemma-3-270m (secureai demo-model)",
                max_tokens=args.model_max_tokens,
                temperature=0,
                max_concurrency=1,  # llama.cpp's server answers one request at a time
                timeout_s=600,
                response_format="json_object",  # llama.cpp's grammar holds the reply to the grade's schema
            )
            judges["gemma"] = {
                **grade(config, cases, "gemma"),
                "served_by": "secureai demo-model (llama.cpp, chat format dialogue, response_format json_object)",
                "max_tokens": args.model_max_tokens,
                "threads": args.threads,
                "model_start_s": round(start_s, 1),
            }
    print(
        json.dumps(
            _tidy(
                {
                    "bench": "judge_agreement",
                    "set": {
                        "file": DEFAULT_SET.name,
                        "cases": len(cases),
                        "labelled_true": sum(case.label for case in cases),
                        "limit": args.limit,
                    },
                    "judges": judges,
                    "baseline": {
                        "always_condition_met": constant_judge(cases, True),
                        "always_not_met": constant_judge(cases, False),
                    },
                    "seconds_total": round(time.perf_counter() - started, 1),
                    "cpu_count": os.cpu_count(),
                    "load_avg_before": [round(x, 2) for x in load_before],
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                }
            )
        )
    )


if __name__ == "__main__":
    main()
