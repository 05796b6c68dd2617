"""Machines that go offline with a member on them: the `machine_offline` staff alert, raised once
per outage and cleared when the machine is back. docs/ALERTS.md explains.

The fault alerts are judged on the machines' clocks; an outage cannot be: a will carries no time,
and silence is the absence of any. So outages are judged on ingest's clock: the time each message
was received (kept with it in the journal or the stream, so a replay judges alike) and, for
silence, the wall clock of the check. An alert's id is derived from the message or the silence
that began the outage, so deriving it again after a restart gives the same id.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from gymfloor.contract import (
    MACHINE_OFFLINE,
    MachineKey,
    SessionPayload,
    Severity,
    StaffAlert,
    StatusPayload,
)
from gymfloor.ingest.alerts import ALERT_NAMESPACE

SEVERITY = Severity.WARNING
"""A member mid-set on a machine that gets no cues any more, and staff who cannot see the set: a
trainer should look, but nobody is known to be hurt."""


@dataclass(frozen=True, slots=True)
class _Occupant:
    session_id: str
    member_id: str | None


@dataclass(frozen=True, slots=True)
class OfflineSnapshot:
    occupants: dict[MachineKey, _Occupant]
    last_heard: dict[MachineKey, float]
    outages: dict[MachineKey, StaffAlert]
    status_t: dict[MachineKey, float]


class OfflineWatch:
    """Which machines have a member on them, when each was last heard from, and the outages
    under way. Values are immutable, so a snapshot is a copy of the dictionaries."""

    def __init__(self, offline_after_s: float, forget_after_s: float) -> None:
        """`offline_after_s`: silence that makes an outage; `forget_after_s`: silence after
        which the member's session is over (the detector's idle timeout), and so the outage."""
        self.offline_after_s = offline_after_s
        self.forget_after_s = forget_after_s
        self._occupants: dict[MachineKey, _Occupant] = {}
        self._last_heard: dict[MachineKey, float] = {}
        self._outages: dict[MachineKey, StaffAlert] = {}
        # The `t` of each machine's latest stamped status: a broker hands a retained status over
        # again when ingest subscribes anew, and that repeat is no news of the machine. (A will
        # has no `t`; a second one during an outage changes nothing anyway.)
        self._status_t: dict[MachineKey, float] = {}
        self._resumed_at = -math.inf

    # -- persistence -----------------------------------------------------------------------------

    def snapshot(self) -> OfflineSnapshot:
        return OfflineSnapshot(
            dict(self._occupants),
            dict(self._last_heard),
            dict(self._outages),
            dict(self._status_t),
        )

    @classmethod
    def restore(
        cls, offline_after_s: float, forget_after_s: float, snapshot: OfflineSnapshot | None
    ) -> OfflineWatch:
        """None: a checkpoint written before there was a watch, which knew of no outage."""
        watch = cls(offline_after_s, forget_after_s)
        if snapshot is None:
            return watch
        watch._occupants = dict(snapshot.occupants)
        watch._last_heard = dict(snapshot.last_heard)
        watch._outages = dict(snapshot.outages)
        watch._status_t = dict(snapshot.status_t)
        return watch

    def resume(self, now: float) -> None:
        """Ingest is serving again from `now`: the time it was away is not the machines'
        silence, so silence is counted from here at the earliest."""
        self._resumed_at = now

    # -- input -----------------------------------------------------------------------------------

    def heard(self, machine: MachineKey, received_at: float) -> StaffAlert | None:
        """A message from the machine (not a status): the machine is there. Its outage's
        alert, cleared, if it had one."""
        if machine not in self._occupants:  # most machines, on most messages: nothing to do
            return None
        self._last_heard[machine] = received_at
        return self._clear(machine, received_at) if self._outages else None

    def session(
        self, machine: MachineKey, event: SessionPayload, received_at: float
    ) -> StaffAlert | None:
        """A check-in or check-out, which the machine sent, so it is there."""
        cleared = self.heard(machine, received_at)
        if event.event == "start":
            self._occupants[machine] = _Occupant(event.session_id, event.member_id)
            self._last_heard[machine] = received_at
        elif event.event == "end":
            occupant = self._occupants.get(machine)
            if occupant is not None and occupant.session_id == event.session_id:
                self._leave(machine)
        return cleared

    def status(
        self, machine: MachineKey, status: StatusPayload, received_at: float
    ) -> StaffAlert | None:
        """The machine's presence: online clears its outage, offline (its goodbye, or its will
        when it vanished) begins one if a member is on it."""
        if status.t is not None:
            if self._status_t.get(machine) == status.t:
                return None
            self._status_t[machine] = status.t
        if status.state == "online":
            return self.heard(machine, received_at)
        occupant = self._occupants.get(machine)
        if occupant is None:
            return None
        self._last_heard[machine] = received_at  # its session's time runs out from here
        if machine in self._outages:
            return None
        cause = "signed off" if status.t is not None else "lost its connection"
        return self._raise(machine, occupant, received_at, cause)

    def check(self, now: float) -> list[StaffAlert]:
        """Silence, on ingest's clock `now`: outages begun (raised) and sessions over (their
        outages cleared)."""
        changed: list[StaffAlert] = []
        for machine, occupant in list(self._occupants.items()):
            silent_s = now - max(self._last_heard[machine], self._resumed_at)
            if silent_s > self.forget_after_s:
                cleared = self._clear(machine, now)
                if cleared is not None:
                    changed.append(cleared)
                self._leave(machine)
            elif silent_s > self.offline_after_s and machine not in self._outages:
                last = self._last_heard[machine]
                cause = f"silent for over {self.offline_after_s:g} s"
                changed.append(self._raise(machine, occupant, last, cause))
        return changed

    # -- internals -------------------------------------------------------------------------------

    def _raise(self, machine: MachineKey, occupant: _Occupant, t: float, cause: str) -> StaffAlert:
        who = f"member {occupant.member_id}" if occupant.member_id else "a guest"
        alert = StaffAlert(
            id=str(uuid.uuid5(ALERT_NAMESPACE, f"{machine}/{MACHINE_OFFLINE}/{t:.3f}")),
            t=round(t, 3),
            gym_id=machine.gym_id,
            machine_id=machine.machine_id,
            session_id=occupant.session_id,
            member_id=occupant.member_id,
            severity=SEVERITY,
            kind=MACHINE_OFFLINE,
            message=f"{machine.machine_id}: {cause} with {who} on it",
        )
        self._outages[machine] = alert
        return alert

    def _clear(self, machine: MachineKey, t: float) -> StaffAlert | None:
        alert = self._outages.pop(machine, None)
        if alert is None:
            return None
        return alert.model_copy(update={"cleared_at": round(max(t, alert.t), 3)})

    def _leave(self, machine: MachineKey) -> None:
        """Nobody is on the machine any more; an outage under way ends with the session."""
        del self._occupants[machine]
        del self._last_heard[machine]
