"""Keyset pagination: a page of rows after a cursor, stable while rows are added (ids only grow)."""

from __future__ import annotations

import json
import math
from typing import Annotated, Generic, Protocol, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.api.types import MAX_ID

T = TypeVar("T")


class HasId(Protocol):
    id: int


Row = TypeVar("Row", bound=HasId)

Limit = Annotated[int, Query(ge=1, le=200, description="Rows per page.")]
Cursor = Annotated[int | None, Query(ge=0, le=MAX_ID, description="`next_cursor` of the previous page.")]
#: An opaque cursor (a page sorted by something else than the id).
TextCursor = Annotated[str | None, Query(max_length=100, description="`next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: int | None = None


def page_by_id(
    session: Session,
    query: Select[Row],
    id_column: InstrumentedAttribute[int],
    limit: int,
    cursor: int | None,
    *,
    newest_first: bool = False,
) -> tuple[list[Row], int | None]:
    """One page of `query` ordered by id after `cursor`, and the cursor of the next page (None at the end)."""
    if cursor is not None:
        query = query.where(id_column < cursor if newest_first else id_column > cursor)
    query = query.order_by(id_column.desc() if newest_first else id_column.asc()).limit(limit + 1)
    rows = list(session.scalars(query))
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


class CursorError(ValueError):
    """A cursor this API did not give out."""


def encode_score_cursor(score: float | None, row_id: int) -> str:
    """The cursor after a row of a page sorted by (score, id): `[score, id]` as JSON."""
    return json.dumps([score, row_id])


def decode_score_cursor(cursor: str) -> tuple[float | None, int]:
    """`encode_score_cursor`'s (score, id) back, checked: a finite score (or null), an id in the id range.

    Anything else (not JSON, another shape, `1e400`, NaN, an id past 32 bits) is a CursorError, so a forged
    cursor is a 422 and never an overflow in the database driver."""
    try:
        decoded = json.loads(cursor)
    except (ValueError, RecursionError):
        raise CursorError(cursor) from None
    if not isinstance(decoded, list) or len(decoded) != 2:
        raise CursorError(cursor)
    score, row_id = decoded
    if type(row_id) is not int or not 0 <= row_id <= MAX_ID:
        raise CursorError(cursor)
    if score is None:
        return None, row_id
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise CursorError(cursor)
    return float(score), row_id
