"""Keyset ("cursor") pagination: each page continues after the last row of the one before.

Unlike OFFSET, a keyset page costs the same wherever it falls, and rows stored meanwhile never
shift a page: every row is served exactly once. The cursor is the last row's sort key, opaque
to clients.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, tuple_
from sqlalchemy.sql.elements import ColumnElement

T = TypeVar("T")
Key = tuple[str | int | float, ...]

MAX_LIMIT = 500


class CursorError(ValueError):
    """A cursor that this list did not hand out."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


def keyset(
    query: Select[Any],
    columns: Sequence[ColumnElement[Any]],
    cursor: str | None,
    limit: int,
    descending: bool = True,
) -> Select[Any]:
    """`query` ordered by `columns`, starting after `cursor`, with one row beyond `limit` so
    that `page` can tell whether another page follows."""
    if cursor is not None:
        rows, after = tuple_(*columns), tuple_(*decode(cursor, len(columns)))
        query = query.where(rows < after if descending else rows > after)
    order = [column.desc() if descending else column.asc() for column in columns]
    return query.order_by(*order).limit(limit + 1)


def page(
    rows: Sequence[Any], limit: int, key: Callable[[Any], Key], item: Callable[[Any], T]
) -> Page[T]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[item(row) for row in rows], next_cursor=encode(key(rows[-1])) if more else None
    )


def encode(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode(cursor: str, length: int) -> Key:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise CursorError("cursor is not one this list handed out") from exc
    valid = (
        isinstance(key, list)
        and len(key) == length
        and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in key)
    )
    if not valid:
        raise CursorError("cursor is not one this list handed out")
    return tuple(key)
