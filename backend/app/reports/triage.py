"""Triage applied to a scan-result document, and the triage file that carries it outside the platform.

A reviewer's decision about a finding (false positive, accepted risk with a reason and an end date, fixed, open,
confirmed) follows the finding's fingerprint across scans of one target. `apply_triage` writes it into a result
document: every finding gets a `triage` object, and the summary's risk score leaves out the findings that are
*set aside* (false positives, and accepted risks not yet expired). Every report format reads those fields, so
the HTML, PDF, Markdown, JSON, CSV, JUnit and SARIF outputs and CI gating all agree.

The triage file (`secureai.triage/v1`, JSON or YAML; docs/reports.md) is what `secureai triage export` and
`GET /api/v1/targets/{id}/triage` write, and what `secureai scan|report --triage FILE` read:

    schema: secureai.triage/v1
    target: support-bot            # informational
    findings:
      - fingerprint: 3f1c...       # the platform's; matches a platform scan's finding
        probe_id: llm01.direct_override
        state: accepted_risk
        reason: the output filter blocks it downstream
        expires: 2027-03-31

An entry matches a finding by fingerprint when both have one, otherwise by probe id (a `secureai scan` result
has no platform fingerprint). An entry whose fingerprint differs from the finding's never matches, so a file
exported for one target cannot set aside another target's findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from app.engine.scoring import SEVERITY_ORDER, risk_score_of

TRIAGE_SCHEMA = "secureai.triage/v1"
STATES = ("open", "confirmed", "false_positive", "accepted_risk", "fixed")
#: States whose findings leave the risk score, the executive summary and CI gating (accepted risk until expiry).
SET_ASIDE_STATES = frozenset({"false_positive", "accepted_risk"})
#: What a reader sees for each state.
STATE_LABELS = {
    "open": "open",
    "confirmed": "confirmed",
    "false_positive": "false positive",
    "accepted_risk": "accepted risk",
    "fixed": "marked fixed",
}

State = Literal["open", "confirmed", "false_positive", "accepted_risk", "fixed"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class TriageFileError(ValueError):
    """A triage file that cannot be used; the message names the file, the entry and the reason."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    probe_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    state: State
    reason: Text | None = None
    expires: date | datetime | None = None
    updated_by: str | None = None
    updated_at: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> _Entry:
        if self.fingerprint is None and self.probe_id is None:
            raise ValueError("needs a fingerprint or a probe_id")
        if self.state == "accepted_risk" and (self.reason is None or self.expires is None):
            raise ValueError("an accepted risk needs a reason and an expires date")
        if self.state != "accepted_risk" and self.expires is not None:
            raise ValueError("only an accepted risk expires")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["secureai.triage/v1"] = Field(alias="schema")
    target: str | None = None
    exported_at: str | None = None
    findings: list[_Entry]


@dataclass(frozen=True)
class TriageEntry:
    """One decision: the finding it is about (fingerprint and/or probe id), its state and why."""

    state: str
    fingerprint: str | None = None
    probe_id: str | None = None
    reason: str | None = None
    #: When an accepted risk lapses (aware, UTC); None for the other states.
    expires_at: datetime | None = None
    updated_by: str | None = None
    updated_at: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.state == "accepted_risk" and self.expires_at is not None and self.expires_at <= now

    def set_aside(self, now: datetime) -> bool:
        """A false positive, or an accepted risk before its expiry: out of the score, the summary and gating."""
        return self.state in SET_ASIDE_STATES and not self.expired(now)

    def matches(self, finding: dict[str, Any]) -> bool:
        theirs = finding.get("fingerprint")
        if self.fingerprint and theirs:
            return bool(self.fingerprint == theirs)
        return self.probe_id is not None and self.probe_id == finding.get("probe_id")

    def as_file_entry(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fingerprint": self.fingerprint, "probe_id": self.probe_id, "state": self.state}
        if self.reason:
            data["reason"] = self.reason
        if self.expires_at is not None:
            data["expires"] = self.expires_at.isoformat()
        data.update(updated_by=self.updated_by, updated_at=self.updated_at)
        return {key: value for key, value in data.items() if value is not None}


def as_utc(value: date | datetime | None) -> datetime | None:
    """A date is the end of that day in UTC; a naive datetime is UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, time.max, tzinfo=UTC).replace(microsecond=0)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(part) for part in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def load_triage_file(path: Path) -> list[TriageEntry]:
    """The entries of a triage file (JSON or YAML); TriageFileError with one line saying what is wrong."""
    import yaml

    from app.core.yaml_loader import load_strict_yaml

    if not path.is_file():
        raise TriageFileError(f"triage file {path} does not exist")
    try:
        raw = load_strict_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise TriageFileError(f"triage file {path} is not UTF-8 text") from None
    except (yaml.YAMLError, ValueError) as error:  # any syntax error (NUL bytes included), in one line
        raise TriageFileError(f"triage file {path} is not valid JSON or YAML ({type(error).__name__})") from None
    if not isinstance(raw, dict) or raw.get("schema") != TRIAGE_SCHEMA:
        raise TriageFileError(f"triage file {path} is not a {TRIAGE_SCHEMA} document (schema: {TRIAGE_SCHEMA})")
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as error:
        raise TriageFileError(f"triage file {path}: {_first_error(error)}") from None
    entries = []
    for number, entry in enumerate(parsed.findings):
        try:
            expires_at = as_utc(entry.expires)
        except (OverflowError, ValueError):  # e.g. year 1 at UTC+1
            raise TriageFileError(f"triage file {path}: findings.{number}.expires: out of range") from None
        entries.append(
            TriageEntry(
                state=entry.state,
                fingerprint=entry.fingerprint,
                probe_id=entry.probe_id,
                reason=entry.reason,
                expires_at=expires_at,
                updated_by=entry.updated_by,
                updated_at=entry.updated_at,
            )
        )
    return entries


def triage_file(entries: Iterable[TriageEntry], target: str | None, now: datetime | None = None) -> dict[str, Any]:
    """The `secureai.triage/v1` document of `entries` (what the platform exports)."""
    return {
        "schema": TRIAGE_SCHEMA,
        "target": target,
        "exported_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "findings": [entry.as_file_entry() for entry in entries],
    }


def dump_triage_file(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _finding_triage(entry: TriageEntry, now: datetime) -> dict[str, Any]:
    return {
        "state": entry.state,
        "reason": entry.reason,
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
        "expired": entry.expired(now),
        "set_aside": entry.set_aside(now),
        "updated_by": entry.updated_by,
        "updated_at": entry.updated_at,
    }


def apply_triage(
    document: dict[str, Any], entries: Sequence[TriageEntry], source: str, now: datetime | None = None
) -> dict[str, Any]:
    """`document` with each finding's `triage` (None when untriaged), a top-level `triage` block and a summary
    whose `risk_score` leaves the set-aside findings out (`risk_score_before_triage` keeps the scan's own)."""
    now = now or datetime.now(UTC)
    findings = []
    set_aside: list[str] = []
    for finding in document.get("findings") or []:
        entry = next((e for e in entries if e.matches(finding)), None)
        triage = _finding_triage(entry, now) if entry else None
        if triage and triage["set_aside"]:
            set_aside.append(str(finding.get("probe_id")))
        findings.append({**finding, "triage": triage})
    summary = dict(document.get("summary") or {})
    summary.setdefault("risk_score_before_triage", summary.get("risk_score"))
    if set_aside:
        aside = set(set_aside)
        probes = [p for p in document.get("probes") or [] if p.get("probe_id") not in aside]
        summary["risk_score"] = risk_score_of((str(p.get("severity")), p.get("asr")) for p in probes)
    summary["findings_set_aside"] = len(set_aside)
    return {
        **document,
        "summary": summary,
        "findings": findings,
        "triage": {"source": source, "applied_at": now.isoformat(timespec="seconds"), "set_aside": set_aside},
    }


def finding_triage(finding: dict[str, Any]) -> dict[str, Any] | None:
    triage = finding.get("triage")
    return triage if isinstance(triage, dict) else None


def is_set_aside(finding: dict[str, Any]) -> bool:
    """Whether a finding of a (triaged) document is a false positive or an unexpired accepted risk."""
    triage = finding_triage(finding)
    return bool(triage and triage.get("set_aside") is True)


def triage_label(finding: dict[str, Any]) -> str:
    """The triage column's text: "false positive", "accepted risk until 2027-03-31", "accepted risk (expired
    2026-11-30)", "untriaged"."""
    triage = finding_triage(finding)
    if triage is None:
        return "untriaged"
    state = str(triage.get("state"))
    label = STATE_LABELS.get(state, state)
    expires = str(triage.get("expires_at") or "")[:10]
    if state == "accepted_risk" and expires:
        return f"{label} (expired {expires})" if triage.get("expired") else f"{label} until {expires}"
    return label


def blocking_findings(document: dict[str, Any], severity: str) -> list[dict[str, Any]]:
    """The findings `--fail-on severity` fails on: at least that severe and not set aside by triage."""
    floor = SEVERITY_ORDER.index(severity)
    return [
        finding
        for finding in document.get("findings") or []
        if not is_set_aside(finding) and SEVERITY_ORDER.index(str(finding.get("severity") or "info")) >= floor
    ]
