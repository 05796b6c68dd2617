"""Reading sessions: a member's list, one session, the sessions before it, and a member's
recent sessions in figures (for trends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
)

from gymfloor.contract import Fault
from gymfloor.storage import schema
from gymfloor.storage.models import (
    MM_DIGITS,
    SECONDS_DIGITS,
    SHARE_DIGITS,
    SessionSummary,
    SessionTrendPoint,
)
from gymfloor.storage.pagination import Page, keyset, page

_sessions, _reps = schema.sessions, schema.reps
_ORDER = (
    _sessions.c.t_start,
    _sessions.c.gym_id,
    _sessions.c.machine_id,
    _sessions.c.session_id,
)


def page_sessions(
    db: Connection, member_id: str, cursor: str | None, limit: int
) -> Page[SessionSummary]:
    """A member's sessions, newest first."""
    query = select(_sessions).where(_sessions.c.member_id == member_id)
    rows = db.execute(keyset(query, _ORDER, cursor, limit)).all()
    summaries = _summarise(db, rows[:limit])
    return page(
        rows,
        limit,
        lambda r: (r.t_start, r.gym_id, r.machine_id, r.session_id),
        lambda r: summaries[_key(r)],
    )


def session_history(
    db: Connection, member_id: str, session_id: str, earlier: int
) -> list[SessionSummary]:
    """One of the member's sessions, then up to `earlier` of their sessions before it, newest
    first; empty when the session is not theirs, as when it does not exist."""
    c = _sessions.c
    query = (
        select(_sessions)
        .where(c.member_id == member_id, c.session_id == session_id)
        .order_by(c.t_start.desc())
        .limit(1)
    )
    session = db.execute(query).first()
    if session is None:
        return []
    query = (
        select(_sessions)
        .where(c.member_id == member_id, c.t_start < session.t_start)
        .order_by(*(column.desc() for column in _ORDER))
        .limit(earlier)
    )
    rows = [session, *db.execute(query).all()]
    summaries = _summarise(db, rows)  # one query for them all
    return [summaries[_key(row)] for row in rows]


def recent_session_figures(db: Connection, member_id: str, count: int) -> list[SessionTrendPoint]:
    """The member's last `count` sessions that have reps, newest first, each summed up in SQL
    (one query, whatever the number of reps)."""
    return [
        SessionTrendPoint(
            gym_id=row.gym_id,
            machine_id=row.machine_id,
            session_id=row.session_id,
            t_start=row.t_start,
            reps=row.reps,
            faults={fault: row[f"{fault.value}_reps"] for fault in Fault},
            fault_shares={
                fault: round(float(row[f"{fault.value}_share"]), SHARE_DIGITS) for fault in Fault
            },
            mean_rom_mm=round(float(row.mean_rom_mm), MM_DIGITS),
            mean_eccentric_s=round(float(row.mean_eccentric_s), SECONDS_DIGITS),
        )
        for row in db.execute(_RECENT_FIGURES, {"member_id": member_id, "count": count}).mappings()
    ]


def _recent_figures_query() -> Select[Any]:
    s, r = _sessions.c, _reps.c
    member: BindParameter[str] = bindparam("member_id")
    recent = (
        select(s.gym_id, s.machine_id, s.session_id, s.t_start)
        .where(s.member_id == member, exists().where(_their_reps(s, member)))
        .order_by(*(column.desc() for column in _ORDER))
        .limit(bindparam("count"))
        .subquery()
    )
    flags = [r[fault.value] for fault in Fault]
    keys = (recent.c.gym_id, recent.c.machine_id, recent.c.session_id, recent.c.t_start)
    return (
        select(
            *keys,
            func.count().label("reps"),
            *(_count_true(flag).label(f"{flag.name}_reps") for flag in flags),
            # AVG over 0/1 is the share, computed where the reps are.
            *(func.avg(case((flag, 1.0), else_=0.0)).label(f"{flag.name}_share") for flag in flags),
            func.avg(r.rom_mm).label("mean_rom_mm"),
            func.avg(r.eccentric_s).label("mean_eccentric_s"),
        )
        .select_from(recent)
        .join(_reps, _their_reps(recent.c, member))
        .group_by(*keys)
        .order_by(*(column.desc() for column in keys[3:] + keys[:3]))
    )


def _their_reps(session: Any, member: BindParameter[str]) -> ColumnElement[bool]:
    """The condition that a rep is one of the session's, by the member."""
    r = _reps.c
    return and_(
        r.gym_id == session.gym_id,
        r.machine_id == session.machine_id,
        r.session_id == session.session_id,
        r.member_id == member,
    )


def _key(row: Any) -> tuple[str, str, str]:
    return (row.gym_id, row.machine_id, row.session_id)


def _summary_query() -> Select[Any]:
    c = _reps.c
    flags = [c[fault.value] for fault in Fault]
    return (
        select(
            c.gym_id,
            c.machine_id,
            c.session_id,
            func.count().label("reps"),
            _count_true(or_(*flags)).label("faulty_reps"),
            *(_count_true(flag).label(flag.name) for flag in flags),
            func.avg(c.rom_mm).label("mean_rom_mm"),
            func.avg(c.eccentric_s).label("mean_eccentric_s"),
            func.min(c.min_lumbar_ratio).label("min_lumbar_ratio"),
        )
        .where(
            c.member_id == bindparam("member_id"),
            c.session_id.in_(bindparam("session_ids", expanding=True)),
        )
        .group_by(c.gym_id, c.machine_id, c.session_id)
    )


def _count_true(condition: Any) -> Any:
    # SUM over a boolean is not portable (PostgreSQL refuses it); over 0/1 it is.
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# Built once: building it anew on every call cost more than SQLite took to run it.
_SUMMARY = _summary_query()
_RECENT_FIGURES = _recent_figures_query()


def _summarise(
    db: Connection, rows: Sequence[Row[Any]]
) -> dict[tuple[str, str, str], SessionSummary]:
    """Summaries of one member's sessions, from their reps, in one query. A session id on two
    machines gives two groups; each summary takes its own by the whole key."""
    if not rows:
        return {}
    params = {"member_id": rows[0].member_id, "session_ids": sorted({r.session_id for r in rows})}
    totals = {_key(t): t for t in db.execute(_SUMMARY, params)}
    summaries = {}
    for row in rows:
        t = totals.get(_key(row))
        summaries[_key(row)] = SessionSummary(
            gym_id=row.gym_id,
            machine_id=row.machine_id,
            session_id=row.session_id,
            member_id=row.member_id,
            t_start=row.t_start,
            t_end=row.t_end,
            load_kg=row.load_kg,
            reps=t.reps if t else 0,
            faulty_reps=t.faulty_reps if t else 0,
            faults={fault: getattr(t, fault.value) if t else 0 for fault in Fault},
            mean_rom_mm=_rounded(t.mean_rom_mm if t else None, MM_DIGITS),
            mean_eccentric_s=_rounded(t.mean_eccentric_s if t else None, SECONDS_DIGITS),
            min_lumbar_ratio=_rounded(t.min_lumbar_ratio if t else None, SHARE_DIGITS),
        )
    return summaries


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
