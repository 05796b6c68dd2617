"""Rep reports for staff: the whole floor, filtered by machine, member, session, time or fault."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gymfloor.api.deps import Cursor, Limit, OptionalId, ReadDb, Since, StaffToken, Until
from gymfloor.api.pages import stored_json_page
from gymfloor.contract import Fault, RepReport
from gymfloor.storage.pagination import Page
from gymfloor.storage.reps import RepFilter, page_reps

router = APIRouter(prefix="/v1/reps", tags=["staff"])


@router.get("", response_model=Page[RepReport])
def reps(
    token: StaffToken,
    db: ReadDb,
    cursor: Cursor = None,
    limit: Limit = 50,
    gym_id: OptionalId = None,
    machine_id: OptionalId = None,
    member_id: OptionalId = None,
    session_id: OptionalId = None,
    since: Since = None,
    until: Until = None,
    fault: Fault | None = None,
) -> Response:
    """Reps, newest first."""
    where = RepFilter(gym_id, machine_id, member_id, session_id, since, until, fault)
    return stored_json_page(page_reps(db, where, cursor, limit))
