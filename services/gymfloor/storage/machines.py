"""Reading the machines: presence, and the session open on each."""

from __future__ import annotations

from sqlalchemy import Connection, select, tuple_

from gymfloor.storage import schema
from gymfloor.storage.models import MachineView, OpenSession
from gymfloor.storage.pagination import Page, keyset, page

_machines, _sessions = schema.machines, schema.sessions
_ORDER = (_machines.c.gym_id, _machines.c.machine_id)


def page_machines(
    db: Connection, gym_id: str | None, cursor: str | None, limit: int
) -> Page[MachineView]:
    """By gym and machine id."""
    query = select(_machines)
    if gym_id is not None:
        query = query.where(_machines.c.gym_id == gym_id)
    rows = db.execute(keyset(query, _ORDER, cursor, limit, descending=False)).all()
    keys = [(row.gym_id, row.machine_id) for row in rows[:limit]]
    open_sessions = _open_sessions(db, keys)
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
        ),
    )


def _open_sessions(
    db: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], OpenSession]:
    if not keys:
        return {}
    s = _sessions.c
    query = (
        select(s.gym_id, s.machine_id, s.session_id, s.member_id, s.t_start, s.load_kg)
        .where(tuple_(s.gym_id, s.machine_id).in_(keys), s.t_end.is_(None))
        .order_by(s.t_start)
    )
    latest: dict[tuple[str, str], OpenSession] = {}
    for row in db.execute(query):  # oldest first, so the newest open session wins
        latest[(row.gym_id, row.machine_id)] = OpenSession(
            session_id=row.session_id,
            member_id=row.member_id,
            t_start=row.t_start,
            load_kg=row.load_kg,
        )
    return latest
