"""The machines on the floor, for staff: who is on which, and which are offline."""

from __future__ import annotations

from fastapi import APIRouter

from gymfloor.api.deps import Cursor, Limit, OptionalId, ReadDb, StaffToken
from gymfloor.storage.machines import page_machines
from gymfloor.storage.models import MachineView
from gymfloor.storage.pagination import Page

router = APIRouter(prefix="/v1/machines", tags=["staff"])


@router.get("", response_model=Page[MachineView])
def machines(
    token: StaffToken,
    db: ReadDb,
    cursor: Cursor = None,
    limit: Limit = 100,
    gym_id: OptionalId = None,
) -> Page[MachineView]:
    """Machines by gym and id, with their presence and the session open on each."""
    return page_machines(db, gym_id, cursor, limit)
