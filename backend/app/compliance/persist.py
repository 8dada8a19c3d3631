"""A platform scan's compliance assessment, stored in the legacy `compliance_mappings` table.

One row per framework x requirement: the legacy status vocabulary (lower-case since revision a1c3e5f7b9d2),
the probes behind the status as evidence, and the ids of the findings that failed it. Legacy rows of legacy
scans are never touched; a platform scan's rows are rewritten whenever its findings are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.compliance.catalog import default_catalog
from app.compliance.mapping import MeasuredProbe, RequirementStatus, assess_measured
from app.db.enums import ComplianceStatus
from app.db.models import ComplianceMapping, Scan
from app.engine.scoring import ProbeScore

#: Our assessment's statuses in the legacy table's vocabulary.
LEGACY_STATUS = {
    RequirementStatus.FAILED: ComplianceStatus.NON_COMPLIANT,
    RequirementStatus.PASSED: ComplianceStatus.COMPLIANT,
    RequirementStatus.PARTIAL: ComplianceStatus.PARTIAL,
    RequirementStatus.NOT_TESTED: ComplianceStatus.NOT_ASSESSED,
}
#: A stored status (value) back in the assessment's words (docs/compliance.md), for readers of the table.
ASSESSMENT_STATUS = {legacy.value: ours.value for ours, legacy in LEGACY_STATUS.items()}


def write_compliance(
    session: Session, scan: Scan, probes: Mapping[str, ProbeScore], finding_ids: Mapping[str, int]
) -> int:
    """(Re)write the scan's compliance rows from its per-probe scores; returns how many rows."""
    measured = [MeasuredProbe(s.probe_id, s.owasp, s.counts["vulnerable"], s.scored) for s in probes.values()]
    assessments = assess_measured(measured, default_catalog())
    session.execute(delete(ComplianceMapping).where(ComplianceMapping.scan_id == scan.id))
    rows = 0
    for framework_id, assessment in assessments.items():
        for result in assessment.results:
            evidence = {
                "failed_probes": result.failed_probes,
                "passed_probes": result.passed_probes,
                "unscored_probes": result.unscored_probes,
            }
            session.add(
                ComplianceMapping(
                    scan_id=scan.id,
                    framework=framework_id[:50],
                    requirement_id=result.requirement_id[:50],
                    requirement_name=result.title[:200],
                    compliance_status=LEGACY_STATUS[result.status],
                    evidence=json.dumps(evidence),
                    vulnerability_ids=sorted(finding_ids[p] for p in result.failed_probes if p in finding_ids),
                )
            )
            rows += 1
    return rows
