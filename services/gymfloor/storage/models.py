"""What the store hands back to its readers (the API serves these as they are)."""

from __future__ import annotations

import bisect
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from gymfloor.contract import Fault, StaffAlert


class Role(StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


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


class Member(_Record):
    member_id: str
    display_name: str | None
    created_at: float


class TokenInfo(_Record):
    id: str
    role: Role
    member_id: str | None
    label: str | None
    created_at: float
    revoked_at: float | None


LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LatencyHistogram(BaseModel):
    """Counts of latencies per bucket: `counts[i]` ≤ `bounds[i]`, the last one above them all."""

    bounds: tuple[float, ...] = LATENCY_BOUNDS_S
    counts: list[int] = Field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_S) + 1))
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def since(self, earlier: LatencyHistogram) -> LatencyHistogram:
        """What was observed after `earlier`, a copy of this histogram taken then."""
        return LatencyHistogram(
            bounds=self.bounds,
            counts=[now - then for now, then in zip(self.counts, earlier.counts, strict=True)],
            sum=self.sum - earlier.sum,
        )

    def quantile(self, q: float) -> float | None:
        """The bound of the bucket holding the `q` quantile: the latency that share of the
        observations stayed within, to the bucket. None: no observation, or it lies beyond the
        last bound."""
        total = sum(self.counts)
        if total == 0:
            return None
        seen = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            seen += count
            if seen >= q * total:
                return bound
        return None


class TimeseriesHealth(BaseModel):
    reachable: bool
    backlog_points: int = Field(description="points spooled on disk and not yet written")
    points_written: int
    write_errors: int = Field(description="failed writes, each retried")
    writes_refused: int = Field(0, description="chunks InfluxDB refused as invalid, skipped")
    points_dropped: int = Field(0, description="points dropped with the spool full")
    spool_errors: int = Field(0, description="appends or syncs of the spool that failed")
    last_error: str | None


class IngestHealth(BaseModel):
    """What an ingest instance reports every few seconds (table `ingest_status`)."""

    counters: dict[str, int] = Field(description="totals since the instance started")
    queued: int
    machines: int
    broker_connected: bool
    detection_latency: LatencyHistogram = Field(
        description="from a telemetry batch's arrival to the feedback or report it caused"
    )
    timeseries: TimeseriesHealth | None = Field(description="null when no InfluxDB is set up")
