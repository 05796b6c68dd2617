"""What the ingest pipeline hands its sinks: everything it produced since the last write."""

from __future__ import annotations

from dataclasses import dataclass, field

from gymfloor.contract import MachineKey, RepReport, SessionPayload, StaffAlert


@dataclass(frozen=True, slots=True)
class MachineStatus:
    state: str
    state_since: float
    last_message_at: float


@dataclass(slots=True)
class Changes:
    """What the pipeline produced since the last write."""

    reports: list[RepReport] = field(default_factory=list)
    alerts: list[StaffAlert] = field(default_factory=list)
    sessions: list[tuple[MachineKey, SessionPayload]] = field(default_factory=list)
    machines: dict[MachineKey, MachineStatus] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.reports or self.alerts or self.sessions or self.machines)

    def __str__(self) -> str:
        return (
            f"{len(self.reports)} reports, {len(self.alerts)} alerts, "
            f"{len(self.sessions)} session events, {len(self.machines)} machine states"
        )

    def absorb(self, later: Changes) -> None:
        """Add changes made after these, in order."""
        self.reports += later.reports
        self.alerts += later.alerts
        self.sessions += later.sessions
        self.machines.update(later.machines)
