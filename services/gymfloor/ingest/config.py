"""Settings of the ingest service and its alert policy, apart from them so that reading them is
cheap: no detector, no numba."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestConfig(BaseModel):
    client_id: str = Field(
        "gymfloor-ingest",
        description="MQTT client id; the broker keeps this id's session while ingest is away",
    )
    flush_interval_s: float = Field(0.2, gt=0, description="seconds between store writes")
    checkpoint_interval_s: float = Field(
        5.0, gt=0, description="seconds between checkpoints of the detector state"
    )
    sweep_interval_s: float = Field(30.0, gt=0, description="seconds between idle sweeps")
    stats_interval_s: float = Field(60.0, gt=0, description="seconds between status log lines")
    max_pending: int = Field(
        50_000, ge=100, description="messages queued in memory before intake waits"
    )
    trace_hz: float = Field(
        10.0,
        gt=0,
        le=100,
        description="samples per second kept of the telemetry, for the board and live panels",
    )
    trace_retention_s: float = Field(
        900.0, ge=60, description="seconds of each machine's telemetry the store keeps"
    )
    require_registered: bool = Field(
        False,
        description="accept messages only from machines registered with `gymfloor machines add`",
    )
    registry_refresh_s: float = Field(
        5.0, gt=0, description="seconds between readings of the machine registry"
    )


class AlertPolicyConfig(BaseModel):
    heavy_load_kg: float = Field(
        150.0, gt=0, description="a fault at this load or more is escalated one step"
    )
    liftoff_repeat: int = Field(2, ge=1, description="lift-offs in one set that make it critical")
    rom_repeat: int = Field(3, ge=1, description="too-deep reps in one set that make a warning")
    descent_repeat: int = Field(3, ge=1, description="dropped reps in one set that make an alert")
    cooldown_s: float = Field(
        120.0, ge=0, description="seconds before the same alert may be raised again on a machine"
    )
    offline_after_s: float = Field(
        30.0,
        gt=0,
        description="seconds without a message after which a machine with a member on it is "
        "reported offline",
    )
