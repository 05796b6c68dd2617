"""Rep reports for staff: the floor of the gyms their token sees, filtered by gym, machine, member,
session, time or fault."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gymfloor.api.deps import Cursor, Limit, OptionalId, ReadDb, Since, StaffGyms, Until
from gymfloor.api.pages import stored_json_page
from gymfloor.contract import Fault, RepReport
from gymfloor.storage.pagination import Page
from gymfloor.storage.reps import RepFilter, page_reps

router = APIRouter(prefix="/v1/reps", tags=["staff"])


@router.get("", response_model=Page[RepReport])
def reps(
    gyms: StaffGyms,
    db: ReadDb,
    cursor: Cursor = None,
    limit: Limit = 50,
    machine_id: OptionalId = None,
    member_id: OptionalId = None,
    session_id: OptionalId = None,
    since: Since = None,
    until: Until = None,
    fault: Fault | None = None,
) -> Response:
    """Reps, newest first."""
    where = RepFilter(
        machine_id=machine_id,
        member_id=member_id,
        session_id=session_id,
        since=since,
        until=until,
        fault=fault,
        gyms=gyms,
    )
    return stored_json_page(page_reps(db, where, cursor, limit))
