"""Reading the audit log back: the filters of the audit pages and of the export (actor, action, dates).

One filter for the list (`GET /api/v1/audit`, the dashboard's audit page) and the export
(`GET /api/v1/audit/export`), so the export holds exactly the records the filtered list shows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.db.models import AuditLog, User

__all__ = ["EXPORT_COLUMNS", "AuditFilter", "ExportFormat", "export_lines", "known_actions"]

ExportFormat = Literal["csv", "jsonl"]
#: The columns of an export, in order (the hash columns let the export be checked against the chain).
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "user_id",
    "username",
    "action",
    "resource_type",
    "resource_id",
    "details",
    "ip_address",
    "user_agent",
    "prev_hash",
    "row_hash",
)


@dataclass(frozen=True)
class AuditFilter:
    """Records by `actor` (a username), with `action`, from the day `since` to the day `until` (both included,
    UTC); None: no condition. An actor nobody has matches no record."""

    actor: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor is not None:
            query = query.where(AuditLog.user_id.in_(select(User.id).where(User.username == self.actor)))
        if self.action is not None:
            query = query.where(AuditLog.action == self.action)
        if self.since is not None:
            query = query.where(AuditLog.created_at >= datetime.combine(self.since, time.min))
        if self.until is not None:
            query = query.where(AuditLog.created_at < datetime.combine(self.until + timedelta(days=1), time.min))
        return query

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (for the next page and export links); unset ones left out."""
        values = {"actor": self.actor, "action": self.action, "since": self.since, "until": self.until}
        return {name: str(value) for name, value in values.items() if value is not None}


def known_actions(session: Session) -> list[str]:
    """Every action the log holds, sorted (the choices of the action filter)."""
    return sorted(session.scalars(select(AuditLog.action).distinct()))


def _row(record: AuditLog, usernames: dict[int, str]) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": record.created_at.isoformat() + "Z" if record.created_at else None,
        "user_id": record.user_id,
        "username": usernames.get(record.user_id) if record.user_id is not None else None,
        "action": record.action,
        "resource_type": record.resource_type,
        "resource_id": record.resource_id,
        "details": record.details,
        "ip_address": record.ip_address,
        "user_agent": record.user_agent,
        "prev_hash": record.prev_hash,
        "row_hash": record.row_hash,
    }


def export_lines(session: Session, audit_filter: AuditFilter, export_format: ExportFormat) -> Iterator[str]:
    """The filtered records oldest first, as CSV (a header line, details as JSON text, no cell a spreadsheet
    would evaluate as a formula) or JSON Lines."""
    from app.reports.csv_export import neutralise

    usernames = {user_id: name for user_id, name in session.execute(select(User.id, User.username))}
    query = audit_filter.apply(select(AuditLog)).order_by(AuditLog.id)
    if export_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        yield buffer.getvalue()
    for record in session.scalars(query.execution_options(yield_per=500)):
        row = _row(record, usernames)
        if export_format == "jsonl":
            yield json.dumps(row, sort_keys=False, ensure_ascii=False) + "\n"
            continue
        buffer = io.StringIO()
        row["details"] = json.dumps(row["details"], sort_keys=True) if row["details"] is not None else ""
        writer = csv.writer(buffer)
        writer.writerow([neutralise(row[column]) for column in EXPORT_COLUMNS])
        yield buffer.getvalue()
