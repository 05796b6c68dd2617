"""Reading the machines: presence, the session open on each, their latest reps and their recent
telemetry."""

from __future__ import annotations

import json

from sqlalchemy import ColumnElement, Connection, func, or_, select, tuple_

from gymfloor.contract import Fault, RepReport
from gymfloor.storage import schema
from gymfloor.storage.models import GymScope, MachineTrace, MachineView, OpenSession, RepMark
from gymfloor.storage.pagination import Page, keyset, page
from gymfloor.storage.reps import RepFilter, all_reps
from gymfloor.storage.scope import within

_machines, _sessions, _reps, _trace = schema.machines, schema.sessions, schema.reps, schema.trace
_ORDER = (_machines.c.gym_id, _machines.c.machine_id)
Key = tuple[str, str]

SET_LEAD_S = 2.0
"""Seconds of telemetry shown before a session's start: the member settling in."""


def page_machines(
    db: Connection, gyms: GymScope, cursor: str | None, limit: int
) -> Page[MachineView]:
    """By gym and machine id."""
    query = within(select(_machines), _machines.c.gym_id, gyms)
    rows = db.execute(keyset(query, _ORDER, cursor, limit, descending=False)).all()
    keys = [(row.gym_id, row.machine_id) for row in rows[:limit]]
    open_sessions = _open_sessions(db, keys)
    last_reps = _latest_reps(db, keys)
    last_faults = _latest_reps(db, keys, faulty=True)
    return page(
        rows,
        limit,
        lambda r: (r.gym_id, r.machine_id),
        lambda r: MachineView(
            gym_id=r.gym_id,
            machine_id=r.machine_id,
            state=r.state,
            state_since=r.state_since,
            last_message_at=r.last_message_at,
            # A machine that went offline mid-session has nobody on it any more.
            current_session=open_sessions.get((r.gym_id, r.machine_id))
            if r.state == "online"
            else None,
            last_rep=last_reps.get((r.gym_id, r.machine_id)),
            last_fault=last_faults.get((r.gym_id, r.machine_id)),
        ),
    )


def machine_trace(
    db: Connection, gym_id: str, machine_id: str, seconds: float
) -> MachineTrace | None:
    """The last `seconds` of the machine's stored telemetry, with the reps in it; it starts later
    if a session started or ended within them and reps followed, so that it shows one person's
    set, not the end of the one before. None: no such machine."""
    known = select(_machines.c.machine_id).where(
        _machines.c.gym_id == gym_id, _machines.c.machine_id == machine_id
    )
    if db.execute(known).first() is None:
        return None
    t = _trace.c
    of_machine = (t.gym_id == gym_id, t.machine_id == machine_id)
    newest = db.execute(select(func.max(t.t_last)).where(*of_machine)).scalar()
    by_time: dict[float, list[float | None]] = {}
    reps: list[RepMark] = []
    if newest is not None:
        start = newest - seconds
        where = RepFilter(gym_id=gym_id, machine_id=machine_id, since=start)
        reps = [_mark(report) for report in all_reps(db, where)]
        for boundary in _session_boundaries(db, gym_id, machine_id, after=start):
            if reps and reps[-1].t_start >= boundary:  # the newest boundary that reps followed
                start = boundary - SET_LEAD_S
                reps = [rep for rep in reps if rep.t_start >= start]
                break
        chunks = select(t.samples).where(*of_machine, t.t_last >= start).order_by(t.t_first)
        by_time = {
            sample[0]: sample  # a replay's chunks may overlap the first ones: once each
            for (chunk,) in db.execute(chunks)
            for sample in json.loads(chunk)
            if sample[0] >= start
        }
    samples = sorted(by_time.items())
    return MachineTrace(
        gym_id=gym_id,
        machine_id=machine_id,
        t=[time for time, _ in samples],
        sled_mm=[sample[1] for _, sample in samples],
        lumbar_ratio=[sample[2] for _, sample in samples],
        reps=reps,
    )


def _session_boundaries(db: Connection, gym_id: str, machine_id: str, after: float) -> list[float]:
    """When sessions on the machine started or ended after `after`, newest first."""
    s = _sessions.c
    on_machine = (s.gym_id == gym_id, s.machine_id == machine_id)
    starts = select(s.t_start.label("t")).where(*on_machine, s.t_start > after)
    ends = select(s.t_end.label("t")).where(*on_machine, s.t_end > after)
    return sorted((t for (t,) in db.execute(starts.union_all(ends))), reverse=True)


def _open_sessions(db: Connection, keys: list[Key]) -> dict[Key, OpenSession]:
    if not keys:
        return {}
    s, r = _sessions.c, _reps.c
    reps_so_far = (
        select(func.count())
        .where(r.session_id == s.session_id, r.gym_id == s.gym_id, r.machine_id == s.machine_id)
        .scalar_subquery()
    )
    query = (
        select(s.gym_id, s.machine_id, s.session_id, s.member_id, s.t_start, s.load_kg)
        .add_columns(reps_so_far.label("reps"))
        .where(tuple_(s.gym_id, s.machine_id).in_(keys), s.t_end.is_(None))
        .order_by(s.t_start)
    )
    latest: dict[Key, OpenSession] = {}
    for row in db.execute(query):  # oldest first, so the newest open session wins
        latest[(row.gym_id, row.machine_id)] = OpenSession(
            session_id=row.session_id,
            member_id=row.member_id,
            t_start=row.t_start,
            load_kg=row.load_kg,
            reps=row.reps,
        )
    return latest


def _latest_reps(db: Connection, keys: list[Key], faulty: bool = False) -> dict[Key, RepMark]:
    """Each machine's newest rep, or newest rep with a fault."""
    if not keys:
        return {}
    r = _reps.c
    inner = _reps.alias("inner")
    conditions: list[ColumnElement[bool]] = [
        inner.c.gym_id == r.gym_id,
        inner.c.machine_id == r.machine_id,
    ]
    if faulty:
        conditions.append(or_(*(inner.c[fault.value].is_(True) for fault in Fault)))
    newest = select(func.max(inner.c.t_start)).where(*conditions).scalar_subquery()
    query = select(r.gym_id, r.machine_id, r.report).where(
        tuple_(r.gym_id, r.machine_id).in_(keys), r.t_start == newest
    )
    return {
        (row.gym_id, row.machine_id): _mark(RepReport.model_validate_json(row.report))
        for row in db.execute(query)
    }


def _mark(report: RepReport) -> RepMark:
    return RepMark(
        rep=report.rep,
        session_id=report.session_id,
        t_start=report.t_start,
        t_bottom=report.t_bottom,
        t_end=report.t_end,
        rom_mm=report.rom_mm,
        min_lumbar_ratio=report.min_lumbar_ratio,
        faults=list(report.faults),
    )
