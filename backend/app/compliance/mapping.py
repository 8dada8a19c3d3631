"""From probes and scan results to compliance requirements: coverage, gaps, and per-scan status.

Coverage asks which requirements the probe packs *can* evidence (a requirement no probe maps to is a gap,
whatever a scan does). Assessment asks what one scan *did* evidence, per requirement:

- `failed`: a linked probe ran and at least one of its attacks succeeded;
- `passed`: linked probes ran, every one the scan selected produced scored attempts, and none succeeded;
- `partial`: linked probes ran without success, but some selected linked probes produced no scored attempt
  (only errors or blocks), so the evidence is incomplete;
- `not_tested`: no linked probe produced a scored attempt in this scan: a gap of this scan.

Coverage % of a framework = requirements with status other than `not_tested` / all its requirements.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.compliance.catalog import OWASP_IDS, Catalog, Framework
from app.engine.probes.registry import load_probes


class MappableProbe(Protocol):
    """What the mapping needs of a probe: a registry probe, or one known only from a result file."""

    @property
    def id(self) -> str: ...

    @property
    def owasp(self) -> str: ...

    @property
    def tags(self) -> Sequence[str]: ...


class RequirementStatus(enum.StrEnum):
    FAILED = "failed"
    PASSED = "passed"
    PARTIAL = "partial"
    NOT_TESTED = "not_tested"


@dataclass(frozen=True)
class ProbeOutcome:
    """What a scan measured for one probe."""

    probe_id: str
    vulnerable: int
    scored: int  # vulnerable + safe + refused


@dataclass
class RequirementResult:
    """The status of one requirement in one scan, with the probes behind it."""

    requirement_id: str
    title: str
    status: RequirementStatus
    failed_probes: list[str] = field(default_factory=list)
    passed_probes: list[str] = field(default_factory=list)
    unscored_probes: list[str] = field(default_factory=list)


@dataclass
class FrameworkAssessment:
    """All requirements of one framework for one scan."""

    framework: Framework
    results: list[RequirementResult]

    def count(self, status: RequirementStatus) -> int:
        return sum(result.status is status for result in self.results)

    @property
    def coverage_pct(self) -> float:
        total = len(self.results)
        tested = total - self.count(RequirementStatus.NOT_TESTED)
        return round(100 * tested / total, 1) if total else 0.0


def probe_coverage(probes: Iterable[MappableProbe], catalog: Catalog) -> dict[str, dict[str, list[str]]]:
    """Per framework, per requirement id: the ids of the probes that can evidence it (absent: a gap).

    Over-refusal probes (`kind: over_refusal`) evidence nothing: they test usability, not security."""
    coverage: dict[str, dict[str, list[str]]] = {framework_id: {} for framework_id in catalog.frameworks}
    linked: dict[tuple[str, tuple[str, ...]], dict[str, set[str]]] = {}  # probes share categories and tag sets
    for probe in probes:
        if getattr(probe, "kind", "attack") == "over_refusal":
            continue  # refusing a benign request is a usability finding: it evidences no security requirement
        key = (probe.owasp, tuple(probe.tags))
        if key not in linked:
            linked[key] = catalog.requirements_for(*key)
        for framework_id, requirement_ids in linked[key].items():
            for requirement_id in requirement_ids:
                coverage[framework_id].setdefault(requirement_id, []).append(probe.id)
    return coverage


def coverage_gaps(probes: Iterable[MappableProbe], catalog: Catalog) -> dict[str, list[str]]:
    """Per framework: requirement ids that no probe can evidence, in the framework's order."""
    covered = probe_coverage(probes, catalog)
    return {
        framework_id: [r.id for r in framework.requirements if r.id not in covered[framework_id]]
        for framework_id, framework in catalog.frameworks.items()
    }


def assess(
    outcomes: Iterable[ProbeOutcome], selected: Sequence[MappableProbe], catalog: Catalog
) -> dict[str, FrameworkAssessment]:
    """Status of every requirement of every framework for one scan (see the module docstring)."""
    measured = {outcome.probe_id: outcome for outcome in outcomes}
    linked = probe_coverage(selected, catalog)
    assessments: dict[str, FrameworkAssessment] = {}
    for framework_id, framework in catalog.frameworks.items():
        results = []
        for requirement in framework.requirements:
            result = RequirementResult(requirement.id, requirement.title, RequirementStatus.NOT_TESTED)
            for probe_id in linked[framework_id].get(requirement.id, []):
                outcome = measured.get(probe_id)
                if outcome is None or outcome.scored == 0:
                    result.unscored_probes.append(probe_id)
                elif outcome.vulnerable:
                    result.failed_probes.append(probe_id)
                else:
                    result.passed_probes.append(probe_id)
            if result.failed_probes:
                result.status = RequirementStatus.FAILED
            elif result.passed_probes:
                result.status = RequirementStatus.PARTIAL if result.unscored_probes else RequirementStatus.PASSED
            results.append(result)
        assessments[framework_id] = FrameworkAssessment(framework, results)
    return assessments


@dataclass(frozen=True)
class UnlistedProbe:
    """A probe known only from results (an imported garak probe, say): it maps by its OWASP category alone."""

    id: str
    owasp: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MeasuredProbe:
    """One probe's result as any source states it: scan scores, a result document, a report row."""

    probe_id: str
    owasp: str
    vulnerable: int
    scored: int


def assess_measured(measured: Iterable[MeasuredProbe], catalog: Catalog) -> dict[str, FrameworkAssessment]:
    """`assess` for probes given by id: registry probes map by category and tags, unknown ones by category."""
    registry: dict[str, MappableProbe] = {probe.id: probe for probe in load_probes()}
    items = list(measured)
    selected = [
        registry.get(item.probe_id) or UnlistedProbe(item.probe_id, item.owasp)
        for item in items
        if item.probe_id in registry or item.owasp in OWASP_IDS  # no category: it evidences nothing
    ]
    outcomes = [ProbeOutcome(item.probe_id, item.vulnerable, item.scored) for item in items]
    return assess(outcomes, selected, catalog)
