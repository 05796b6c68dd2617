"""What the store hands back to its readers (the API serves these as they are)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from gymfloor.contract import Fault, Severity, StaffAlert

GymScope = frozenset[str] | None
"""The gyms whose floor a read may see; None: every gym."""


class Role(StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


# What a session's figures are rounded to: finer than a member can feel, coarser than the
# noise of an average.
MM_DIGITS = 1
"""Depths to 0.1 mm, as rep reports give them."""
SECONDS_DIGITS = 2
"""Times to 0.01 s."""
SHARE_DIGITS = 3
"""Ratios and shares to 0.001."""


class SessionSummary(_Record):
    gym_id: str
    machine_id: str
    session_id: str
    member_id: str | None
    t_start: float
    t_end: float | None = Field(description="null while the session is open")
    load_kg: float | None
    reps: int
    faulty_reps: int
    faults: dict[Fault, int] = Field(description="reps showing each fault")
    mean_rom_mm: float | None
    mean_eccentric_s: float | None
    min_lumbar_ratio: float | None


class SessionTrendPoint(_Record):
    """One session in a member's trend: its averages, and the share of its reps with each fault."""

    gym_id: str
    machine_id: str
    session_id: str
    t_start: float
    reps: int
    faults: dict[Fault, int] = Field(description="reps showing each fault")
    fault_shares: dict[Fault, float] = Field(description="share of the reps showing each fault")
    mean_rom_mm: float
    mean_eccentric_s: float


class OpenSession(_Record):
    session_id: str
    member_id: str | None
    t_start: float
    load_kg: float | None
    reps: int = Field(description="reps done in the session so far")


class RepMark(_Record):
    """A rep in brief, for the board: where it lies in time and what it showed."""

    rep: int
    session_id: str | None
    t_start: float
    t_bottom: float
    t_end: float
    rom_mm: float
    min_lumbar_ratio: float | None
    faults: list[Fault]


class MachineView(_Record):
    gym_id: str
    machine_id: str
    state: str = Field(description="online or offline")
    state_since: float
    last_message_at: float
    current_session: OpenSession | None
    last_rep: RepMark | None
    last_fault: RepMark | None = Field(description="the latest rep that showed a fault")


class MachineTrace(_Record):
    """A machine's recent telemetry, downsampled, and the reps in it: its current or last set."""

    gym_id: str
    machine_id: str
    t: list[float] = Field(description="Unix s of each sample")
    sled_mm: list[float | None] = Field(description="null: a dropped sample")
    lumbar_ratio: list[float | None] = Field(
        description="lumbar pressure over the member's baseline; null: dropped or no baseline"
    )
    reps: list[RepMark]


class AlertRecord(StaffAlert):
    """A staff alert as published, and whether someone has taken it."""

    acknowledged_at: float | None = None
    acknowledged_by: str | None = Field(None, description="id of the token that acknowledged")


class Acknowledgement(_Record):
    alert_id: str
    at: float
    by: str


class Clearance(_Record):
    """An alert stopped applying: a `machine_offline` alert's machine is back."""

    alert_id: str
    at: float


class Member(_Record):
    member_id: str
    display_name: str | None
    created_at: float


class RegisteredMachine(_Record):
    gym_id: str
    machine_id: str
    login: str = Field(description="the machine's broker user name")
    created_at: float


class TokenInfo(_Record):
    id: str
    role: Role
    member_id: str | None
    all_gyms: bool = Field(description="admin tokens, and staff tokens issued for every gym")
    gym_ids: list[str] = Field(description="the only gyms a staff token sees, unless all_gyms")
    label: str | None
    created_at: float
    revoked_at: float | None

    @property
    def gyms(self) -> GymScope:
        """The gyms whose floor the token sees. A member token sees none: members see their own
        data, wherever they trained."""
        return None if self.all_gyms else frozenset(self.gym_ids)


class Webhook(_Record):
    id: str
    gym_id: str
    url: str
    min_severity: Severity | None = Field(description="null: alerts of every severity")
    created_at: float
    pending: int = Field(description="deliveries waiting to be sent or retried")
    dead_letters: int = Field(description="deliveries given up after the last attempt")
