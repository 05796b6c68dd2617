"""What the ingest pipeline hands its sinks: everything it produced since the last write.

Below both ingest and storage: the pipeline makes these, the sinks consume them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gymfloor.contract import MachineKey, RepReport, SessionPayload, StaffAlert


@dataclass(frozen=True, slots=True)
class MachineStatus:
    state: str
    state_since: float
    last_message_at: float


def unix_ns(t: float) -> int:
    """Unix seconds as integer nanoseconds, to the microsecond: about as fine as a float holds
    today's time, so no rounding noise in the last digits, and always the same for the same t."""
    return round(t * 1e6) * 1000


@dataclass(slots=True, eq=False)
class Trace:
    """A machine's telemetry, downsampled for live panels and the staff board, in the order it
    came: one sample per time bucket, stamped with the bucket's start (Unix nanoseconds). NaN is
    a dropped sample, or, in `lumbar_ratio`, a lumbar reading with no baseline yet to compare it
    with."""

    machine: MachineKey
    t_ns: list[int] = field(default_factory=list)
    sled_mm: list[float] = field(default_factory=list)
    lumbar_kpa: list[float] = field(default_factory=list)
    lumbar_ratio: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t_ns)

    def extend(self, later: Trace) -> None:
        self.t_ns += later.t_ns
        self.sled_mm += later.sled_mm
        self.lumbar_kpa += later.lumbar_kpa
        self.lumbar_ratio += later.lumbar_ratio

    def forget_before(self, t_ns: int) -> None:
        kept = [i for i, t in enumerate(self.t_ns) if t >= t_ns]
        self.t_ns = [self.t_ns[i] for i in kept]
        self.sled_mm = [self.sled_mm[i] for i in kept]
        self.lumbar_kpa = [self.lumbar_kpa[i] for i in kept]
        self.lumbar_ratio = [self.lumbar_ratio[i] for i in kept]


@dataclass(slots=True)
class Changes:
    """What the pipeline produced since the last write."""

    reports: list[RepReport] = field(default_factory=list)
    alerts: list[StaffAlert] = field(default_factory=list)
    cleared: list[StaffAlert] = field(default_factory=list)
    """Alerts raised earlier that stopped applying, each with its `cleared_at`."""
    sessions: list[tuple[MachineKey, SessionPayload]] = field(default_factory=list)
    machines: dict[MachineKey, MachineStatus] = field(default_factory=dict)
    trace: dict[MachineKey, Trace] = field(default_factory=dict)
    """The telemetry, downsampled, a machine's in one piece (none without samples): for the
    staff board's plots and the time-series sink."""

    def __bool__(self) -> bool:
        return bool(
            self.reports
            or self.alerts
            or self.cleared
            or self.sessions
            or self.machines
            or self.trace
        )

    def __str__(self) -> str:
        return (
            f"{len(self.reports)} reports, {len(self.alerts)} alerts, "
            f"{len(self.cleared)} alerts cleared, "
            f"{len(self.sessions)} session events, {len(self.machines)} machine states, "
            f"{sum(map(len, self.trace.values()))} trace samples"
        )

    def forget_trace_older_than(self, seconds: float) -> None:
        """Keep only the trace of the last `seconds` before its newest sample: what waits for a
        store that is down need not outgrow what the store would keep."""
        if self.trace:
            oldest = max(trace.t_ns[-1] for trace in self.trace.values()) - round(seconds * 1e9)
            for key, trace in list(self.trace.items()):
                trace.forget_before(oldest)
                if not trace:
                    del self.trace[key]

    def absorb(self, later: Changes) -> None:
        """Add changes made after these, in order; these take over `later`'s traces."""
        self.reports += later.reports
        self.alerts += later.alerts
        self.cleared += later.cleared
        self.sessions += later.sessions
        self.machines.update(later.machines)
        for key, trace in later.trace.items():
            mine = self.trace.get(key)
            if mine is None:
                self.trace[key] = trace
            else:
                mine.extend(trace)
