"""Keyset pagination: a page of rows after a cursor, stable while rows are added (ids only grow)."""

from __future__ import annotations

from typing import Annotated, Generic, Protocol, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


class HasId(Protocol):
    id: int


Row = TypeVar("Row", bound=HasId)

Limit = Annotated[int, Query(ge=1, le=200, description="Rows per page.")]
Cursor = Annotated[int | None, Query(ge=0, le=2_147_483_647, description="`next_cursor` of the previous page.")]


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
