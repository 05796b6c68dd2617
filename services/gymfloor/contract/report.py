"""The rep report of docs/CONTRACT.md section 4 and the faults it can carry."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Fault(StrEnum):
    LUMBAR_LIFTOFF = "lumbar_liftoff"
    EXCESSIVE_ROM = "excessive_rom"
    UNCONTROLLED_DESCENT = "uncontrolled_descent"


FAULT_LABELS: dict[Fault, str] = {
    # What every reader calls a fault: staff alerts, cues, the demo's lines, the board's chips.
    # Lower case, to sit mid-sentence; `.capitalize()` where one starts a sentence or a chip.
    Fault.LUMBAR_LIFTOFF: "lower back lifted",
    Fault.EXCESSIVE_ROM: "too deep",
    Fault.UNCONTROLLED_DESCENT: "dropped too fast",
}


class RepReport(BaseModel):
    """One detected rep. The fields up to `faults` are the contract's; the rest are extensions."""

    model_config = ConfigDict(frozen=True)

    gym_id: str
    machine_id: str
    session_id: str | None
    member_id: str | None
    rep: int = Field(ge=1)
    t_start: float
    t_bottom: float
    t_end: float
    rom_mm: float
    eccentric_s: float
    concentric_s: float
    min_lumbar_ratio: float | None = Field(
        description="null when the back pad was empty at the top, so there is no baseline"
    )
    faults: list[Fault]
    # Extensions, for coaching and dashboards.
    load_kg: float | None = None
    baseline_kpa: float | None = None
    tilt_onset_mm: float | None = Field(
        default=None,
        description="sled position where the lumbar pressure first fell below the tilt ratio",
    )
    peak_descent_mm_s: float = Field(description="fastest 200 ms of the descent")
