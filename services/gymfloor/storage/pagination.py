"""Keyset ("cursor") pagination: each page continues after the last row of the one before.

Unlike OFFSET, a keyset page costs the same wherever it falls, and rows stored meanwhile never
shift a page: every row is served exactly once. The cursor is the last row's sort key, opaque
to clients.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Float, Integer, Select, String, tuple_
from sqlalchemy.sql.elements import ColumnElement

T = TypeVar("T")
Key = tuple[str | int | float, ...]

MAX_LIMIT = 500
MAX_CURSOR_CHARS = 8192
"""Room for the longest key a list hands out (a time and three ids of 128 characters, each
character JSON-escaped to at most 12, then base64); longer cursors are refused undecoded."""
_INT64 = 2**63
"""The range of an INTEGER column in SQLite and PostgreSQL alike (BIGINT)."""


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
    after = None if cursor is None else decode(cursor, columns)
    return seek(query, columns, after, descending).limit(limit + 1)


def seek(
    query: Select[Any],
    columns: Sequence[ColumnElement[Any]],
    after: Key | None,
    descending: bool = True,
) -> Select[Any]:
    """`query` ordered by `columns`, starting after the row whose key is `after`."""
    if after is not None:
        rows, key = tuple_(*columns), tuple_(*after)
        query = query.where(rows < key if descending else rows > key)
    return query.order_by(*(column.desc() if descending else column.asc() for column in columns))


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


def decode(cursor: str, columns: Sequence[ColumnElement[Any]]) -> Key:
    """The key in `cursor`, checked against the columns it will be compared with: a value the
    database cannot bind (an integer past 64 bits, a string in a number column) would otherwise
    fail the query, not the request."""
    refused = CursorError("cursor is not one this list handed out")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise refused
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    # RecursionError: deeply nested JSON arrays.
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise refused from exc
    if not isinstance(key, list) or len(key) != len(columns):
        raise refused
    if not all(_fits(value, column) for value, column in zip(key, columns, strict=True)):
        raise refused
    return tuple(key)


def _fits(value: object, column: ColumnElement[Any]) -> bool:
    kind = column.type
    if isinstance(value, bool):  # an int to Python, never a key value here
        return False
    if isinstance(value, int) and isinstance(kind, Integer | Float):
        return -_INT64 <= value < _INT64
    if isinstance(value, float) and isinstance(kind, Float):
        return math.isfinite(value)  # JSON's 1e999 and NaN decode to inf and nan
    if isinstance(value, str) and isinstance(kind, String):
        return len(value) <= (kind.length or MAX_CURSOR_CHARS) and _storable(value)
    return False


def _storable(text: str) -> bool:
    """Neither NUL, which PostgreSQL refuses in text, nor a lone surrogate, which UTF-8 lacks."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
