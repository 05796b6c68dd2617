"""Settings of the ingest service, apart from the service so that reading them is cheap."""

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
