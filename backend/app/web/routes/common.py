"""Small pieces several pages share: calling an API function for a page, names of targets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Target
from app.web.deps import PageError

P = ParamSpec("P")
T = TypeVar("T")


def api_call(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call an API route function for a page: its HTTP errors become error pages with the same status."""
    try:
        return function(*args, **kwargs)
    except HTTPException as error:
        raise PageError(error.status_code, str(error.detail)) from None


def first_error(error: ValidationError) -> str:
    """A form's validation error in one line: where (the field) and what, for the alert above the form."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def target_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the targets with these ids (one query)."""
    wanted = {target_id for target_id in ids if target_id is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Target.id, Target.name).where(Target.id.in_(wanted)))
    return {target_id: name for target_id, name in rows}
