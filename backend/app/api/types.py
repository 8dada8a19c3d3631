"""Field types shared by the API's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator


def _as_utc(moment: datetime) -> datetime:
    """The database keeps naive UTC (the legacy convention); the API says so: RFC 3339 with an offset."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]

#: Largest row id (32-bit INTEGER on PostgreSQL); larger numbers are 422, not a database error.
MAX_ID = 2_147_483_647
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id.")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
