"""Settings of the edge agent, apart from the agent so that reading them is cheap."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EdgeConfig(BaseModel):
    gym_id: str = Field("g1", description="the gym this machine belongs to")
    machine_id: str = Field("lp-01", description="this machine's id, unique in its gym")
    batch_interval_s: float = Field(0.1, gt=0, le=10, description="seconds of samples per batch")
    outbox_max_messages: int = Field(
        200_000, ge=100, description="messages kept on disk while the broker is unreachable"
    )
