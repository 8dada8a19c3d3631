"""Field types shared by the API's models."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, StringConstraints


def _as_utc(moment: datetime) -> datetime:
    """The database keeps naive UTC (the legacy convention); the API says so: RFC 3339 with an offset."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]

#: Largest row id (32-bit INTEGER on PostgreSQL); larger numbers are 422, not a database error.
MAX_ID = 2_147_483_647
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id.")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

#: Unicode categories a name must not hold: controls (NUL, escape, newline...), format characters (the
#: bidirectional embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E/U+200F,
#: the zero-width U+200B-U+200D, the byte order mark U+FEFF...), which can show a name as something it is not
#: ("Trojan Source"), line and paragraph separators, and lone surrogates (not text at all).
UNSAFE_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def unsafe_character(text: str) -> str | None:
    """The first character of `text` that a name must not hold, as U+XXXX; None when there is none."""
    for character in text:
        if unicodedata.category(character) in UNSAFE_NAME_CATEGORIES:
            return f"U+{ord(character):04X}"
    return None


def _check_name(value: str) -> str:
    found = unsafe_character(value)
    if found is not None:
        raise ValueError(f"must not contain control or invisible formatting characters (found {found})")
    return value


#: A name as people read it: no control characters (NUL, escape, newline...) and no format characters
#: (bidirectional overrides, zero-width characters...), which would show a name as something it is not.
NameText = Annotated[str, AfterValidator(_check_name)]
#: The name of a target or an API token (1-100 characters, surrounding whitespace stripped).
SafeName = Annotated[NameText, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
#: The name of a scan (1-200 characters, surrounding whitespace stripped).
SafeScanName = Annotated[NameText, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
