"""Settings of webhook delivery, apart from the deliverer so that reading them is cheap."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

REQUEST_PHASES = 3
"""A request's timeout applies to connecting, sending and reading each: a send may take this
many times `timeout_s`."""


class WebhookConfig(BaseModel):
    deliver: bool = Field(
        True, description="send the outbox's deliveries from this API process (docs/WEBHOOKS.md)"
    )
    poll_s: float = Field(1.0, gt=0, le=60, description="seconds between looks for due deliveries")
    timeout_s: float = Field(
        5.0, gt=0, le=60, description="seconds a receiver has to accept, take and answer a delivery"
    )
    max_attempts: int = Field(
        20, ge=1, le=100, description="attempts of a delivery before it is dead-lettered"
    )
    backoff_s: float = Field(2.0, gt=0, description="seconds before the first retry, doubled after")
    max_backoff_s: float = Field(600.0, gt=0, description="the longest wait between two attempts")
    batch: int = Field(
        10, ge=1, le=100, description="deliveries claimed, and sent side by side, at once"
    )
    lease_s: float = Field(
        120.0,
        gt=0,
        description="seconds a claim keeps its deliveries from other deliverers, longer than "
        "a send may take",
    )
    keep_delivered_s: float = Field(
        7 * 86_400.0, gt=0, description="seconds the outbox keeps deliveries that went out"
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Self:
        if self.lease_s <= REQUEST_PHASES * self.timeout_s:
            raise ValueError(f"lease_s must exceed {REQUEST_PHASES} times timeout_s")
        return self
