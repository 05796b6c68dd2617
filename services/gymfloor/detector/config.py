"""Detector thresholds. The defaults of the rules' thresholds are the contract's
(docs/CONTRACT.md section 4, "What counts"); the others are gymfloor's."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class DetectorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Contract rules.
    smoothing_s: float = Field(
        0.1, gt=0, le=0.25, description="moving-average window of every signal"
    )
    rep_min_mm: float = Field(100.0, gt=0, description="descent needed to start a rep")
    return_min_mm: float = Field(100.0, gt=0, description="return needed to complete a rep")
    liftoff_ratio: float = Field(
        0.5, gt=0, lt=1, description="lumbar/baseline below this is lift-off"
    )
    liftoff_min_s: float = Field(0.1, ge=0, description="how long lift-off must last")
    tilt_ratio: float = Field(
        0.85, gt=0, lt=1, description="lumbar/baseline below this is tilt onset"
    )
    excess_mm: float = Field(30.0, ge=0, description="allowed travel past tilt onset")
    min_eccentric_s: float = Field(1.5, ge=0, description="shortest controlled descent")
    max_descent_mm_s: float = Field(600.0, gt=0, description="fastest controlled descent speed")
    speed_window_s: float = Field(0.2, gt=0, le=0.25, description="window of the descent speed")

    # Project choices, documented in docs/DETECTION.md.
    near_mm: float = Field(
        4.0, gt=0, description="inner level for timing where motion starts/stops"
    )
    far_mm: float = Field(
        32.0, gt=0, description="outer level for timing where motion starts/stops"
    )
    still_mm: float = Field(
        4.0, gt=0, description="movement within this band counts as standing still"
    )
    still_s: float = Field(0.4, gt=0, description="stillness that ends a rep or settles a new top")
    empty_kpa: float = Field(0.5, ge=0, description="pad pressure below this is an empty pad")
    empty_s: float = Field(2.0, gt=0, description="empty pads this long at the top end the set")
    baseline_follow: float = Field(
        0.3, gt=0, le=1, description="share of each new top reading taken"
    )
    baseline_retake_factor: float = Field(
        1.5,
        gt=1,
        description="a top reading this many times above or below the baseline replaces it",
    )
    max_gap_s: float = Field(1.0, gt=0, description="a longer hole in the data interrupts the rep")
    idle_timeout_s: float = Field(
        900.0, gt=0, description="a machine silent this long is forgotten"
    )

    @model_validator(mode="after")
    def _levels_are_ordered(self) -> DetectorConfig:
        if not self.near_mm < self.far_mm < self.rep_min_mm:
            raise ValueError("need near_mm < far_mm < rep_min_mm")
        return self

    def kernel_record(self) -> np.ndarray:
        """The thresholds as the one-element structured array the compiled kernel reads."""
        dtype = np.dtype([(name, "f8") for name in DetectorConfig.model_fields])
        return np.array([tuple(self.model_dump().values())], dtype=dtype)
