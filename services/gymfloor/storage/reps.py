"""Reading rep reports: lists by machine, member, session and time, and full exports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select

from gymfloor.contract import Fault, RepReport
from gymfloor.storage import schema
from gymfloor.storage.models import GymScope
from gymfloor.storage.pagination import Key, Page, keyset, page, seek
from gymfloor.storage.scope import within

_reps = schema.reps
_ORDER = (_reps.c.t_start, _reps.c.id)

EXPORT_CHUNK_ROWS = 1000
"""Reps an export reads at a time: a few hundred kilobytes of reports."""


@dataclass(frozen=True, slots=True)
class RepFilter:
    gym_id: str | None = None
    machine_id: str | None = None
    member_id: str | None = None
    session_id: str | None = None
    since: float | None = None
    """Reps that started at or after this time (Unix s)."""
    until: float | None = None
    """Reps that started before this time."""
    fault: Fault | None = None
    gyms: GymScope = None
    """Only reps of these gyms: those the reader sees."""

    def apply(self, query: Select[Any]) -> Select[Any]:
        c = _reps.c
        query = within(query, c.gym_id, self.gyms)
        for column, value in (
            (c.gym_id, self.gym_id),
            (c.machine_id, self.machine_id),
            (c.member_id, self.member_id),
            (c.session_id, self.session_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(c.t_start >= self.since)
        if self.until is not None:
            query = query.where(c.t_start < self.until)
        if self.fault is not None:
            query = query.where(c[self.fault.value].is_(True))
        return query


def page_reps(db: Connection, where: RepFilter, cursor: str | None, limit: int) -> Page[str]:
    """Newest first, each report as the JSON it was stored as: ingest wrote it from a validated
    `RepReport`, so a list can serve it without parsing and validating it again."""
    query = keyset(where.apply(select(_reps.c.report, *_ORDER)), _ORDER, cursor, limit)
    rows = db.execute(query).all()
    return page(rows, limit, lambda r: (r.t_start, r.id), lambda r: str(r.report))


def all_reps(db: Connection, where: RepFilter) -> Iterator[RepReport]:
    """Oldest first, as a session happened; streamed, so exports of any size fit in memory."""
    query = where.apply(select(_reps.c.report, *_ORDER)).order_by(*_ORDER)
    for row in db.execution_options(yield_per=1000).execute(query):
        yield _report(row)


def stored_report_chunks(
    connect: Callable[[], AbstractContextManager[Connection]],
    where: RepFilter,
    rows: int = EXPORT_CHUNK_ROWS,
) -> Iterator[list[str]]:
    """Every rep that `where` takes, oldest first, as stored JSON, `rows` at a time: one keyset
    query per chunk, on a connection from `connect` that goes back before the chunk is handed
    on. So an export of any size holds one chunk in memory, and a client reading slowly holds
    no connection (nor, on SQLite, a snapshot that keeps the write-ahead log from shrinking).
    The last chunk is short, possibly empty."""
    query = where.apply(select(_reps.c.report, *_ORDER))
    after: Key | None = None
    while True:
        with connect() as db:
            found = db.execute(seek(query, _ORDER, after, descending=False).limit(rows)).all()
        yield [str(row.report) for row in found]
        if len(found) < rows:
            return
        after = (found[-1].t_start, found[-1].id)


def _report(row: object) -> RepReport:
    return RepReport.model_validate_json(row.report)  # type: ignore[attr-defined]
