"""Reading rep reports: lists by machine, member, session and time, and full exports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select

from gymfloor.contract import Fault, RepReport
from gymfloor.storage import schema
from gymfloor.storage.models import GymScope
from gymfloor.storage.pagination import Page, keyset, page
from gymfloor.storage.scope import within

_reps = schema.reps
_ORDER = (_reps.c.t_start, _reps.c.id)


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


def _report(row: object) -> RepReport:
    return RepReport.model_validate_json(row.report)  # type: ignore[attr-defined]
