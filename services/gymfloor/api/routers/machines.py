"""The machines on the floor of the gyms a staff token sees: who is on which, and which are
offline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from gymfloor.api.deps import Cursor, Limit, PathId, ReadDb, StaffGyms, StaffToken, one_gym
from gymfloor.storage.machines import machine_trace, page_machines
from gymfloor.storage.models import MachineTrace, MachineView
from gymfloor.storage.pagination import Page

router = APIRouter(prefix="/v1/machines", tags=["staff"])


@router.get("", response_model=Page[MachineView])
def machines(
    gyms: StaffGyms, db: ReadDb, cursor: Cursor = None, limit: Limit = 100
) -> Page[MachineView]:
    """Machines by gym and id, with their presence, the session open on each (with its reps so
    far), and their latest rep and latest faulty rep."""
    return page_machines(db, gyms, cursor, limit)


@router.get("/{gym_id}/{machine_id}/trace", response_model=MachineTrace)
def trace(
    gym_id: PathId,
    machine_id: PathId,
    token: StaffToken,
    db: ReadDb,
    seconds: Annotated[
        float, Query(gt=0, le=3600, description="how far back from the newest sample")
    ] = 120,
) -> MachineTrace:
    """The machine's current or last set for the board's plot: its recent sled position and
    lumbar ratio (about 10 samples a second), from the newest sample back `seconds`, or back to
    the start of a session begun within them; and the reps in that time, with their faults."""
    one_gym(token.gyms, gym_id)
    found = machine_trace(db, gym_id, machine_id, seconds)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no machine {gym_id}/{machine_id}")
    return found
