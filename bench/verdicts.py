#!/usr/bin/env python
"""Benchmark: how often SecureAI's `vulnerable` verdicts are right, on the labelled corpus.

The corpus (backend/tests/fixtures/verdicts/*.jsonl, its README says how it was written and labelled) holds
attack transcripts, each labelled by a person: did the attack reach the probe's goal? Every case is judged
here by the engine's own `ResponseJudge` (what the runner and `secureai rescore` use), from exactly what a
scan would have recorded: the turns as sent, the answer, its tool calls and finish reason, the canary and
marker. Nothing is sent anywhere.

Figures, each with its 95 % Wilson interval: precision and recall of `vulnerable` overall, per detector (cases
whose probe uses the detector; precision over the cases where that detector fired and the outcome was
`vulnerable`), per OWASP category and per source (hand-written, real Gemma 3 270M transcripts). Cases labelled
`unscored` (empty answers) are scored on whether the outcome is `unscored` too. The baseline in the same run is
the verdict recorded in the attempt log by the SecureAI that ran the scan, for the real transcripts.
Targets (issue 12): precision >= 0.95 and recall >= 0.95 overall, no detector under 0.9 precision.

    cd backend && .venv/bin/python ../bench/verdicts.py [--misses]

Prints one JSON line (and with --misses, each misjudged case on stderr); exits 0 even when a target is missed
(`met` is false).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BACKEND = Path(__file__).resolve().parents[1] / "backend"
sys.path.insert(0, str(BACKEND))

from app.engine.detectors.measured import FIGURES_FILE
from app.engine.judging import Judgement, ResponseJudge, pair_from_extra, with_pair
from app.engine.model import AttemptContext, Outcome, TargetResponse, ToolCall
from app.engine.plan import EXFIL_URL
from app.engine.probes.registry import get_probe
from app.engine.scoring import wilson_interval
from app.engine.sinks import read_jsonl

CORPUS = BACKEND / "tests" / "fixtures" / "verdicts"
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.95
DETECTOR_FLOOR = 0.9


def wilson(successes: int, total: int) -> list[float]:
    """The engine's 95 % Wilson interval, rounded for the JSON line."""
    low, high = wilson_interval(successes, total)
    return [round(low, 3), round(high, 3)]


class Tally:
    """True/false positives and negatives of `vulnerable`."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0

    def add(self, labelled: bool, judged: bool) -> None:
        if labelled and judged:
            self.tp += 1
        elif judged:
            self.fp += 1
        elif labelled:
            self.fn += 1
        else:
            self.tn += 1

    def figures(self) -> dict[str, Any]:
        flagged, positives = self.tp + self.fp, self.tp + self.fn
        return {
            "cases": self.tp + self.fp + self.fn + self.tn,
            "vulnerable_labelled": positives,
            "vulnerable_judged": flagged,
            "precision": round(self.tp / flagged, 3) if flagged else None,
            "precision_ci95": wilson(self.tp, flagged),
            "recall": round(self.tp / positives, 3) if positives else None,
            "recall_ci95": wilson(self.tp, positives),
        }


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            cases.extend(json.loads(line) for line in handle if line.strip())
    return cases


def judge_case(judging: ResponseJudge, case: dict[str, Any]) -> Judgement:
    probe = get_probe(case["probe_id"])
    context = case.get("context") or {}
    base = AttemptContext(
        canary=context.get("canary", ""),
        marker=context.get("marker", ""),
        exfil_url=context.get("exfil_url") or EXFIL_URL,
        declared_tools=tuple(tool.name for tool in probe.tools),
    )
    response = TargetResponse(
        text=case["response"],
        tool_calls=tuple(ToolCall(c["name"], c.get("arguments", "{}")) for c in case.get("tool_calls") or ()),
        finish_reason=case.get("finish_reason"),
        completion_tokens=case.get("completion_tokens"),
    )
    judged_context = judging.context(probe, base, tuple(case["turns"]), case.get("system"))
    pair = pair_from_extra(case.get("extra") or {})  # a bias_pair case: the other values' answers
    if pair is not None:
        judged_context = with_pair(judged_context, *pair)
    return judging.judge(probe, judged_context, response)


def recorded_outcomes() -> dict[str, str]:
    """The outcome each real transcript got from the SecureAI that scanned it (the baseline)."""
    recorded: dict[str, str] = {}
    for path in sorted((CORPUS / "raw").glob("*.jsonl")):
        _, records = read_jsonl(path)
        recorded.update({f"{path.stem}:{record.key}": record.outcome.value for record in records})
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true", help="list misjudged cases on stderr")
    parser.add_argument(
        "--write",
        action="store_true",
        help="also write the per-detector figures that reports show (app/engine/detectors/measured.json)",
    )
    args = parser.parse_args()
    cases = load_cases()
    judging = ResponseJudge()
    overall, baseline = Tally(), Tally()
    by_detector: dict[str, Tally] = defaultdict(Tally)
    by_owasp: dict[str, Tally] = defaultdict(Tally)
    by_source: dict[str, Tally] = defaultdict(Tally)
    unscored_right = unscored_cases = 0
    recorded = recorded_outcomes()
    raw_stems = [path.stem for path in sorted((CORPUS / "raw").glob("*.jsonl"))]
    started = time.perf_counter()
    for case in cases:
        judged = judge_case(judging, case)
        probe = get_probe(case["probe_id"])
        labelled, flagged = case["label"] == "vulnerable", judged.outcome is Outcome.VULNERABLE
        overall.add(labelled, flagged)
        by_owasp[probe.owasp].add(labelled, flagged)
        by_source[case.get("source", "written")].add(labelled, flagged)
        for verdict in judged.verdicts:
            # the judge has no model here (its figures come from bench/judge_agreement.py)
            if verdict.detector in ("refusal", "answer", "judge"):
                continue
            by_detector[verdict.detector].add(labelled, flagged and bool(verdict.fired))
        if case["label"] == "unscored":
            unscored_cases += 1
            unscored_right += judged.outcome is Outcome.UNSCORED
        raw_key = next(
            (f"{stem}:{case.get('attempt_key')}" for stem in raw_stems if case["id"].startswith(f"g-{stem}-")), None
        )
        if raw_key in recorded:
            baseline.add(labelled, recorded[raw_key] == "vulnerable")
        if args.misses and (
            labelled != flagged or (case["label"] == "unscored") != (judged.outcome is Outcome.UNSCORED)
        ):
            why = "; ".join(
                f"{v.detector}: {v.explanation}" for v in judged.verdicts if v.fired or v.detector == "answer"
            )
            print(
                f"{case['id']}: labelled {case['label']}, judged {judged.outcome.value} -- {why[:300]}", file=sys.stderr
            )
    seconds = time.perf_counter() - started
    figures = overall.figures()
    detectors = {name: tally.figures() for name, tally in sorted(by_detector.items())}
    weakest = min(
        (f["precision"] for f in detectors.values() if f["precision"] is not None and f["vulnerable_judged"] >= 5),
        default=None,
    )
    met = (
        (figures["precision"] or 0) >= TARGET_PRECISION
        and (figures["recall"] or 0) >= TARGET_RECALL
        and (weakest is None or weakest >= DETECTOR_FLOOR)
    )
    if args.write:
        FIGURES_FILE.write_text(
            json.dumps(
                {
                    "corpus_cases": len(cases),
                    "measured_at": time.strftime("%Y-%m-%d"),
                    "overall": figures,
                    "by_detector": detectors,
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    print(
        json.dumps(
            {
                "bench": "verdicts",
                "cases": len(cases),
                "overall": figures,
                "by_detector": detectors,
                "by_owasp": {name: tally.figures() for name, tally in sorted(by_owasp.items())},
                "by_source": {name: tally.figures() for name, tally in sorted(by_source.items())},
                "unscored": {"cases": unscored_cases, "judged_unscored": unscored_right},
                "baseline_recorded_verdicts": baseline.figures(),
                "cases_per_second": round(len(cases) / seconds, 1) if seconds else None,
                "targets": {
                    "precision": TARGET_PRECISION,
                    "recall": TARGET_RECALL,
                    "detector_precision_floor": DETECTOR_FLOOR,
                },
                "met": met,
            }
        )
    )


if __name__ == "__main__":
    main()
