"""What the ingest service publishes: docs/CONTRACT.md sections 5 and 7 (`rejected`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from gymfloor.contract.report import Fault


class _Outbound(BaseModel):
    model_config = ConfigDict(frozen=True)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


class Feedback(_Outbound):
    """A cue for the machine's display, sent within the rep as soon as a fault is seen."""

    v: Literal[1] = 1
    t: float
    rep: int
    fault: Fault
    cue: str
    # Extensions: the telemetry batch that revealed the fault, so a device can tell how fast
    # the answer came.
    boot: str | None = None
    seq: int | None = None


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


MACHINE_OFFLINE = "machine_offline"
"""The `kind` of the staff alert for a machine that went offline, or silent, with a member on it
(docs/ALERTS.md). Every other kind is a `Fault`."""


class StaffAlert(_Outbound):
    """A note for the trainers on the floor; docs/ALERTS.md gives the policy behind it."""

    v: Literal[1] = 1
    id: str
    t: float
    gym_id: str
    machine_id: str
    session_id: str | None
    member_id: str | None
    severity: Severity
    kind: str
    message: str
    # Extensions.
    rep: int | None = None
    load_kg: float | None = None
    count: int = 1
    """How many times the fault has been seen in this set, this one included."""
    cleared_at: float | None = None
    """When the alert stopped applying (a `machine_offline` alert: the machine is back, or its
    session is over); such an alert is published again, the same but for this field."""


class Rejected(_Outbound):
    """A message that broke the contract, returned to its machine's `rejected` topic so the
    device's vendor can see what was wrong with it."""

    v: Literal[1] = 1
    t: float
    topic: str
    reason: str
    raw: str
    """The payload as sent: UTF-8 text, or base64 when it is not valid UTF-8."""
    raw_encoding: Literal["utf-8", "base64"]
    raw_truncated: bool
