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


@dataclass(frozen=True, slots=True, eq=False)
class Trace:
    """Part of a machine's telemetry, downsampled for live panels and the staff board: one sample
    per time bucket, stamped with the bucket's start (Unix nanoseconds). NaN is a dropped sample,
    or, in `lumbar_ratio`, a lumbar reading with no baseline yet to compare it with."""

    machine: MachineKey
    t_ns: list[int]
    sled_mm: list[float]
    lumbar_kpa: list[float]
    lumbar_ratio: list[float]

    def __len__(self) -> int:
        return len(self.t_ns)


@dataclass(slots=True)
class Changes:
    """What the pipeline produced since the last write."""

    reports: list[RepReport] = field(default_factory=list)
    alerts: list[StaffAlert] = field(default_factory=list)
    sessions: list[tuple[MachineKey, SessionPayload]] = field(default_factory=list)
    machines: dict[MachineKey, MachineStatus] = field(default_factory=dict)
    trace: list[Trace] = field(default_factory=list)
    """The telemetry, downsampled: for the staff board's plots and the time-series sink."""

    def __bool__(self) -> bool:
        return bool(self.reports or self.alerts or self.sessions or self.machines or self.trace)

    def __str__(self) -> str:
        return (
            f"{len(self.reports)} reports, {len(self.alerts)} alerts, "
            f"{len(self.sessions)} session events, {len(self.machines)} machine states, "
            f"{sum(map(len, self.trace))} trace samples"
        )

    def forget_trace_older_than(self, seconds: float) -> None:
        """Keep only the trace of the last `seconds` before its newest sample: what waits for a
        store that is down need not outgrow what the store would keep."""
        if self.trace:
            oldest = max(trace.t_ns[-1] for trace in self.trace) - round(seconds * 1e9)
            self.trace = [trace for trace in self.trace if trace.t_ns[-1] >= oldest]

    def absorb(self, later: Changes) -> None:
        """Add changes made after these, in order."""
        self.reports += later.reports
        self.alerts += later.alerts
        self.sessions += later.sessions
        self.machines.update(later.machines)
        self.trace += later.trace
