"""Where a report's scan result comes from: a CLI attempt log or a result file (a platform scan's comes from
`app.crud.reports.result_from_scan`, which builds it with `result_from_records` here).

Whatever the source, the outcome is one `secureai.scan-result/v1` document (docs/scan-json.md), computed by the
engine's own scoring, so every format renders the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.engine.imports.garak_probes import ENGINE as GARAK
from app.engine.imports.garak_probes import garak_probe_infos
from app.engine.model import AttemptRecord
from app.engine.probes.registry import load_probes
from app.engine.report_json import SCHEMA, scan_result_json
from app.engine.scoring import DEFAULT_ERROR_THRESHOLD, ProbeInfo, probe_infos, score_records
from app.engine.sinks import read_jsonl


class ReportSourceError(ValueError):
    """The source is not a scan, an attempt log or a scan result; the message says which and why."""


def _probe_info() -> dict[str, ProbeInfo]:
    """What scoring needs of every catalogued probe, its kind included (over-refusal is scored apart)."""
    return probe_infos(load_probes())


def result_from_records(
    records: list[AttemptRecord], meta: dict[str, Any], error_threshold: float = DEFAULT_ERROR_THRESHOLD
) -> dict[str, Any]:
    """Score `records` and wrap them in the result document with `meta` as its top-level context.

    Imported garak probes take their OWASP category and severity from the garak probe table; those it does not
    map are listed in `unmapped_probes` (scored `info` without a category) instead of passing as harmless.
    """
    infos = _probe_info()
    imported, unmapped = garak_probe_infos(record.probe_id for record in records if record.probe_id not in infos)
    if imported or unmapped:
        infos.update(imported)
        meta = {"engine": GARAK, **meta, "unmapped_probes": unmapped}
    return scan_result_json(score_records(records, infos, error_threshold), meta)


def result_from_file(path: Path) -> dict[str, Any]:
    """A `.jsonl` attempt log (scored now) or a `.json` scan result (checked and returned)."""
    if not path.is_file():
        raise ReportSourceError(f"{path} does not exist")
    if path.suffix == ".jsonl":
        header, records = read_jsonl(path)
        if not records:
            raise ReportSourceError(f"{path} holds no attempts")
        header = header or {}
        meta = {key: header.get(key) for key in ("target", "strategies", "repeat", "seed", "plan")}
        meta.update(selection=header.get("probes"), results_file=str(path), attempts_planned=header.get("attempts"))
        # an imported garak run says whether it completed (secureai import garak writes it at the end)
        meta.update(
            {key: header[key] for key in ("source", "engine", "engine_version", "complete", "status") if key in header}
        )
        return result_from_records(records, meta)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ReportSourceError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ReportSourceError(f"{path} is not a {SCHEMA} document (secureai scan --format json writes one)")
    return document
