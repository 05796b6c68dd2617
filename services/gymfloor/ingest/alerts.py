"""Which faults become staff alerts, at what severity, and how often. docs/ALERTS.md explains.

The policy is pure and judged on the machines' clocks, so a replay raises the same alerts, with
the same ids, as the live run did.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from gymfloor.contract import FAULT_LABELS, Fault, MachineKey, Severity, StaffAlert
from gymfloor.detector import FaultDetected
from gymfloor.ingest.config import AlertPolicyConfig

ALERT_NAMESPACE = uuid.UUID("6f1c2b1e-5d0a-4c7e-9a51-3b7e2f0d9c41")
RANK = {None: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


@dataclass(slots=True)
class _SetTally:
    """One machine's current set: who is on it and what has gone wrong so far."""

    session_id: str | None
    faults: dict[Fault, int] = field(default_factory=dict)
    raised: dict[Fault, tuple[Severity, float]] = field(default_factory=dict)
    generation: int = 0
    """The policy's generation it belongs to; one of an earlier one may be in a snapshot."""


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    sets: dict[MachineKey, _SetTally]
    suppressed: int


class AlertPolicy:
    def __init__(self, config: AlertPolicyConfig | None = None) -> None:
        self.config = config or AlertPolicyConfig()
        self.suppressed = 0
        self._sets: dict[MachineKey, _SetTally] = {}
        self._generation = 0

    def snapshot(self) -> PolicySnapshot:
        """What the policy remembers now (picklable). Copying every machine's tally would stall
        the floor for milliseconds; instead the snapshot shares them, and a tally is copied
        when it next changes (`_owned`)."""
        self._generation += 1
        return PolicySnapshot(dict(self._sets), self.suppressed)

    @classmethod
    def restore(cls, config: AlertPolicyConfig, snapshot: PolicySnapshot) -> AlertPolicy:
        policy = cls(config)
        policy._sets, policy.suppressed = dict(snapshot.sets), snapshot.suppressed
        policy._generation = 1 + max((t.generation for t in snapshot.sets.values()), default=0)
        return policy

    def judge(self, fault: FaultDetected) -> StaffAlert | None:
        """The alert this fault deserves, or None when it deserves none or repeats one that
        was raised too recently."""
        tally = self._tally(fault.machine, fault.session_id)
        count = tally.faults[fault.fault] = tally.faults.get(fault.fault, 0) + 1
        heavy = fault.load_kg is not None and fault.load_kg >= self.config.heavy_load_kg
        severity = self._severity(fault.fault, count, heavy)
        if severity is None:
            return None
        previous = tally.raised.get(fault.fault)
        if previous is not None:
            last_severity, last_t = previous
            escalates = RANK[severity] > RANK[last_severity]
            if not escalates and fault.t - last_t < self.config.cooldown_s:
                self.suppressed += 1
                return None
        tally.raised[fault.fault] = (severity, fault.t)
        return _alert(fault, severity, count, heavy)

    def set_ended(self, machine: MachineKey) -> None:
        """The member got off: repeats are counted afresh, but a cool-down still runs."""
        tally = self._owned(machine)
        if tally is not None:
            tally.faults.clear()

    def forget(self, machines: set[MachineKey]) -> None:
        for machine in machines:
            self._sets.pop(machine, None)

    def _tally(self, machine: MachineKey, session_id: str | None) -> _SetTally:
        tally = self._owned(machine)
        if tally is None or tally.session_id != session_id:
            tally = self._sets[machine] = _SetTally(session_id, generation=self._generation)
        return tally

    def _owned(self, machine: MachineKey) -> _SetTally | None:
        """The machine's tally, safe to change: a copy if a snapshot shares it."""
        tally = self._sets.get(machine)
        if tally is not None and tally.generation != self._generation:
            tally = self._sets[machine] = _SetTally(
                tally.session_id, dict(tally.faults), dict(tally.raised), self._generation
            )
        return tally

    def _severity(self, fault: Fault, count: int, heavy: bool) -> Severity | None:
        c = self.config
        if fault is Fault.LUMBAR_LIFTOFF:
            return Severity.CRITICAL if heavy or count >= c.liftoff_repeat else Severity.WARNING
        if fault is Fault.EXCESSIVE_ROM:
            return Severity.WARNING if heavy or count >= c.rom_repeat else Severity.INFO
        # One fast rep is for the member's display only; a habit of dropping the sled is not.
        if count < c.descent_repeat:
            return None
        return Severity.WARNING if heavy else Severity.INFO


def _alert(fault: FaultDetected, severity: Severity, count: int, heavy: bool) -> StaffAlert:
    machine = fault.machine
    details = [f"{_ordinal(count)} time this set" if count > 1 else "first time this set"]
    if fault.load_kg is not None:
        details.append(f"{fault.load_kg:g} kg{', heavy' if heavy else ''}")
    who = f"member {fault.member_id}" if fault.member_id else "no check-in"
    message = (
        f"{machine.machine_id}: {FAULT_LABELS[fault.fault]}, rep {fault.rep} "
        f"({', '.join(details)}); {who}"
    )
    alert_id = uuid.uuid5(ALERT_NAMESPACE, f"{machine}/{fault.fault}/{fault.t:.3f}")
    return StaffAlert(
        id=str(alert_id),
        t=round(fault.t, 3),
        gym_id=machine.gym_id,
        machine_id=machine.machine_id,
        session_id=fault.session_id,
        member_id=fault.member_id,
        severity=severity,
        kind=fault.fault.value,
        message=message,
        rep=fault.rep,
        load_kg=fault.load_kg,
        count=count,
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
