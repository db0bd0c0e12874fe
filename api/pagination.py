"""Cursor pagination of the /v1 list routes: keyset pages behind an opaque cursor.

A page is read by the key of the last item seen (never by offset), so a client walking the pages sees
every item once even while new ones are added. The cursor is that key, tagged with what it pages,
in URL-safe base64: clients pass it back as it is and must not build one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel

from api.errors import ApiError

MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, at most {MAX_LIMIT}")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page; absent: the first")
]
T = TypeVar("T")
Item = TypeVar("Item")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
    """Absent on the last page."""
    next: str | None
    """This request's URL with `cursor` set to `next_cursor`."""


def encode(kind: str, key: Sequence[Any]) -> str:
    parts = [p.isoformat() if isinstance(p, datetime) else p for p in key]
    return base64.urlsafe_b64encode(json.dumps([kind, *parts]).encode()).decode().rstrip("=")


def _part(value: Any, kind: type) -> Any:
    """One part of a key as `kind`: ints and strings as they are, datetimes from ISO text with zone."""
    if kind is datetime and isinstance(value, str):
        at = datetime.fromisoformat(value)
        if at.tzinfo is not None:
            return at
    elif type(value) is kind:
        return value
    raise ValueError(value)


def decode(raw: str | None, kind: str, shape: Sequence[type]) -> list[Any] | None:
    """The key in a cursor of `kind`, each part of its type in `shape`; None without a cursor. A cursor
    that is not one of ours, or pages something else, is a 422 naming the parameter."""
    if not raw:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if isinstance(found, list) and len(found) == len(shape) + 1 and found[0] == kind:
            return [_part(part, t) for part, t in zip(found[1:], shape, strict=True)]
    except (binascii.Error, ValueError):
        pass
    raise ApiError(
        422, "bad_cursor", "cursor is not a next_cursor of this list; start without one.", field="cursor"
    )


def page(
    request: Request, rows: Sequence[Item], limit: int, kind: str, key: Callable[[Item], Sequence[Any]]
) -> tuple[Sequence[Item], str | None, str | None]:
    """The page's rows, its next cursor and next URL; `rows` were read with `limit + 1` to tell
    whether another page follows."""
    if len(rows) <= limit:
        return rows, None, None
    shown = rows[:limit]
    cursor = encode(kind, key(shown[-1]))
    return shown, cursor, str(request.url.include_query_params(cursor=cursor))


def since(value: datetime | None, name: str) -> datetime | None:
    """A `…_since` filter in UTC; one without a zone is taken as UTC. 422 when it cannot be one (a
    date at the edge of the calendar that its offset pushes out)."""
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError as err:
        raise ApiError(422, "bad_datetime", f"{name} is out of range.", field=name) from err
