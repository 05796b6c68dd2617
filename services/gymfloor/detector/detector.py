"""Per-machine detection: de-duplication, sessions and rep numbering around the kernel.

`Detector` is pure: it is fed decoded messages and returns what it found, and it never does
I/O. The live ingest service and the offline `gymfloor analyze` drive the same instance type.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gymfloor.contract import Fault, MachineKey, RepReport, SessionPayload, TelemetryBatch
from gymfloor.contract.payloads import MAX_SAMPLES
from gymfloor.detector import kernel
from gymfloor.detector.config import DetectorConfig
from gymfloor.detector.snapshot import MachinesSnapshot, pack_state, unpack_state

_FAULT_OF_BIT = {
    kernel.LIFTOFF: Fault.LUMBAR_LIFTOFF,
    kernel.EXCESS_ROM: Fault.EXCESSIVE_ROM,
    kernel.UNCONTROLLED: Fault.UNCONTROLLED_DESCENT,
}
_NO_SACRAL = np.empty(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class FaultDetected:
    """A fault seen mid-rep, reported at once for the machine's display and the staff."""

    machine: MachineKey
    t: float
    rep: int
    fault: Fault
    session_id: str | None
    member_id: str | None
    load_kg: float | None


@dataclass(frozen=True, slots=True)
class SetEnded:
    """The member got off the machine: whatever they did is over, the next person starts fresh."""

    machine: MachineKey
    t: float


DetectorOutput = FaultDetected | RepReport | SetEnded


@dataclass(slots=True)
class Session:
    session_id: str
    member_id: str | None
    t_start: float
    t_end: float | None = None
    reps: int = 0

    def covers(self, t: float) -> bool:
        return self.t_start <= t and (self.t_end is None or t <= self.t_end)


@dataclass(slots=True)
class MachineState:
    kernel_state: np.ndarray
    boot: str | None = None
    last_seq: int | None = None
    last_t0: float = -math.inf
    last_seen: float = -math.inf
    load_kg: float | None = None
    session: Session | None = None
    previous_session: Session | None = None
    anonymous_reps: int = 0

    def __getstate__(self) -> tuple[Any, ...]:
        # The kernel's state compactly: most of it is tables of which a rep uses a part.
        fields = tuple(getattr(self, name) for name in self.__slots__)
        return (pack_state(self.kernel_state), *fields[1:])

    def __setstate__(self, fields: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, (unpack_state(fields[0]), *fields[1:]), strict=True):
            setattr(self, name, value)

    def session_at(self, t: float) -> Session | None:
        """The session a rep starting at `t` belongs to; events may race the telemetry."""
        for candidate in (self.session, self.previous_session):
            if candidate is not None and candidate.covers(t):
                return candidate
        return None


@dataclass(slots=True)
class DetectorCounters:
    batches: int = 0
    samples: int = 0
    duplicates: int = 0
    reps: int = 0
    faults: int = 0
    abandoned_reps: int = 0
    sets_ended: int = 0
    unknown_sessions: int = 0
    evicted_machines: int = 0


@dataclass(frozen=True, slots=True)
class DetectorSnapshot:
    counters: DetectorCounters
    clock: float
    machines: MachinesSnapshot | dict[MachineKey, MachineState]
    """Taken lazily, or (once restored) the states themselves."""


@dataclass(slots=True)
class Detector:
    config: DetectorConfig = field(default_factory=DetectorConfig)
    counters: DetectorCounters = field(default_factory=DetectorCounters)
    clock: float = field(default=-math.inf, init=False)
    """The latest sample time seen, on the machines' clocks."""
    _machines: dict[MachineKey, MachineState] = field(default_factory=dict)
    _config_record: np.ndarray = field(init=False)
    _events: np.ndarray = field(init=False)
    _snapshot: MachinesSnapshot | None = field(default=None, init=False)
    """The latest snapshot, which may still need machines copied before they change."""

    def __post_init__(self) -> None:
        self._config_record = self.config.kernel_record()
        self._events = kernel.new_events(MAX_SAMPLES)

    # -- input ------------------------------------------------------------------------------

    def telemetry(self, key: MachineKey, batch: TelemetryBatch) -> list[DetectorOutput]:
        outputs, machine = self._machine(key, batch.t0)
        if self._is_duplicate(machine, batch):
            self.counters.duplicates += 1
            return outputs
        machine.boot, machine.last_seq, machine.last_t0 = batch.boot, batch.seq, batch.t0
        machine.last_seen = batch.t0 + batch.duration_s
        self.clock = max(self.clock, machine.last_seen)
        if batch.load_kg is not None:
            machine.load_kg = batch.load_kg
        self.counters.batches += 1
        self.counters.samples += len(batch.sled_mm)
        sacral = _NO_SACRAL if batch.sacral_kpa is None else batch.sacral_kpa
        n = kernel.step(
            machine.kernel_state,
            self._config_record,
            batch.t0,
            batch.hz,
            batch.sled_mm,
            batch.lumbar_kpa,
            sacral,
            self._events,
        )
        if n:
            outputs += self._decode_events(key, machine, n)
        return outputs

    def session(self, key: MachineKey, event: SessionPayload) -> list[DetectorOutput]:
        """Check-in, load change or check-out. Nothing is found in one, but a machine back from
        a long silence settles its past first."""
        outputs, machine = self._machine(key, event.t)
        machine.last_seen = max(machine.last_seen, event.t)
        current = machine.session
        same_session = current is not None and current.session_id == event.session_id
        if event.event == "start" and same_session:  # delivered twice
            self.counters.duplicates += 1
            return outputs
        if event.event != "start" and not same_session:
            self.counters.unknown_sessions += 1
            return outputs
        if event.load_kg is not None:
            machine.load_kg = event.load_kg
        if event.event == "start":
            if current is not None:  # a check-in without check-out closes the previous session
                current.t_end = event.t
                machine.previous_session = current
            machine.session = Session(event.session_id, event.member_id, event.t)
            depth_limit = math.nan if event.depth_limit_mm is None else event.depth_limit_mm
            kernel.change_member(machine.kernel_state, depth_limit)
        elif event.event == "end" and current is not None:
            current.t_end = event.t
            machine.previous_session, machine.session = current, None
            kernel.change_member(machine.kernel_state, math.nan)
        return outputs

    def evict_idle(self, now: float) -> list[DetectorOutput]:
        """Forget machines silent for longer than the idle timeout, settling their last rep."""
        horizon = now - self.config.idle_timeout_s
        idle = [key for key, m in self._machines.items() if m.last_seen < horizon]
        for key in idle:
            self._preserve(key)
        outputs = [out for key in idle for out in self._interrupt(key)]
        for key in idle:
            del self._machines[key]
        self.counters.evicted_machines += len(idle)
        return outputs

    def flush(self) -> list[DetectorOutput]:
        """The input has ended: settle every machine's rep in progress."""
        for key in self._machines:
            self._preserve(key)
        return [out for key in list(self._machines) for out in self._interrupt(key)]

    # -- persistence -------------------------------------------------------------------------

    def snapshot(self) -> DetectorSnapshot:
        """Everything the detector remembers now (picklable), for `restore` after a restart.
        It costs next to nothing here: each machine is copied later, by whichever comes first,
        its next change or the snapshot's serialisation (`detector/snapshot.py`). One at a time:
        an earlier snapshot is no longer kept consistent once this is called."""
        self._snapshot = MachinesSnapshot(self._machines)
        return DetectorSnapshot(replace(self.counters), self.clock, self._snapshot)

    @classmethod
    def restore(cls, config: DetectorConfig, snapshot: DetectorSnapshot) -> Detector:
        """A detector that carries on where the one that took `snapshot` stood."""
        detector = cls(config)
        detector.counters, detector.clock = replace(snapshot.counters), snapshot.clock
        machines = snapshot.machines
        owned = machines.states() if isinstance(machines, MachinesSnapshot) else dict(machines)
        detector._machines = owned
        return detector

    # -- introspection -----------------------------------------------------------------------

    @property
    def machine_count(self) -> int:
        return len(self._machines)

    @property
    def machines(self) -> list[MachineKey]:
        return list(self._machines)

    def baseline_kpa(self, key: MachineKey) -> float:
        """The machine's neutral-spine lumbar baseline now; NaN before one is taken."""
        machine = self._machines.get(key)
        # The field of the whole array, not of its one record: 0.1 µs instead of 0.4.
        return math.nan if machine is None else machine.kernel_state["baseline"].item()

    # -- internals ---------------------------------------------------------------------------

    def _machine(self, key: MachineKey, t: float) -> tuple[list[DetectorOutput], MachineState]:
        """The machine's state, new if it is unknown or was silent past the idle timeout. The
        second rule makes eviction invisible: whether or not a sweep forgot the machine while it
        was silent, it comes back to the same fresh state, so live and offline runs agree."""
        self._preserve(key)
        machine = self._machines.get(key)
        outputs: list[DetectorOutput] = []
        if machine is not None and t - machine.last_seen > self.config.idle_timeout_s:
            outputs = self._interrupt(key)
            machine = None
        if machine is None:
            machine = self._machines[key] = MachineState(kernel.new_state())
        return outputs, machine

    def _preserve(self, key: MachineKey) -> None:
        if self._snapshot is not None:
            self._snapshot.preserve(key)

    @staticmethod
    def _is_duplicate(machine: MachineState, batch: TelemetryBatch) -> bool:
        # A repeated (boot, seq) carries data we already have. An agent that restarts without a
        # boot id also repeats seq numbers, but its samples are newer, so time decides.
        return (
            machine.last_seq is not None
            and batch.boot == machine.boot
            and batch.seq <= machine.last_seq
            and batch.t0 <= machine.last_t0
        )

    def _interrupt(self, key: MachineKey) -> list[DetectorOutput]:
        machine = self._machines[key]
        n = kernel.interrupt(machine.kernel_state, self._config_record, self._events)
        return list(self._decode_events(key, machine, n))

    def _decode_events(
        self, key: MachineKey, machine: MachineState, n: int
    ) -> Iterator[DetectorOutput]:
        for row in self._events[:n]:
            kind = int(row[0])
            if kind == kernel.EV_FAULT:
                self.counters.faults += 1
                yield self._fault(key, machine, row)
            elif kind == kernel.EV_REP:
                self.counters.reps += 1
                yield self._report(key, machine, row)
            elif kind == kernel.EV_ABANDONED:
                self.counters.abandoned_reps += 1
            elif kind == kernel.EV_SET_END:
                self.counters.sets_ended += 1
                yield SetEnded(key, float(row[1]))

    def _fault(self, key: MachineKey, machine: MachineState, row: np.ndarray) -> FaultDetected:
        session = machine.session_at(float(row[3]))
        upcoming_rep = (session.reps if session else machine.anonymous_reps) + 1
        return FaultDetected(
            machine=key,
            t=float(row[1]),
            rep=upcoming_rep,
            fault=_FAULT_OF_BIT[int(row[2])],
            session_id=session.session_id if session else None,
            member_id=session.member_id if session else None,
            load_kg=machine.load_kg,
        )

    def _report(self, key: MachineKey, machine: MachineState, row: np.ndarray) -> RepReport:
        t_start = float(row[1])
        session = machine.session_at(t_start)
        if session is not None:
            session.reps += 1
            rep = session.reps
        else:
            machine.anonymous_reps += 1
            rep = machine.anonymous_reps
        bits = int(row[8])
        return RepReport(
            gym_id=key.gym_id,
            machine_id=key.machine_id,
            session_id=session.session_id if session else None,
            member_id=session.member_id if session else None,
            rep=rep,
            t_start=round(t_start, 3),
            t_bottom=round(float(row[2]), 3),
            t_end=round(float(row[3]), 3),
            rom_mm=round(float(row[4]), 1),
            eccentric_s=round(float(row[5]), 3),
            concentric_s=round(float(row[6]), 3),
            min_lumbar_ratio=_rounded_or_none(row[7], 3),
            faults=[fault for bit, fault in _FAULT_OF_BIT.items() if bits & bit],
            load_kg=machine.load_kg,
            baseline_kpa=_rounded_or_none(row[9], 2),
            tilt_onset_mm=_rounded_or_none(row[10], 1),
            peak_descent_mm_s=round(float(row[11]), 1),
        )


def _rounded_or_none(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(float(value), digits)


def warm_up() -> None:
    """Compile the kernel (or load numba's cache of it) now, so that the first live message is
    not the one that waits for the compiler."""
    detector = Detector()
    key = MachineKey("warm-up", "warm-up")
    samples = np.zeros(10)
    batch = TelemetryBatch(0, None, 1e9, 100.0, samples, samples, samples, None)
    detector.telemetry(key, batch)
    detector.flush()
