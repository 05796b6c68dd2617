"""Drivers that need no hardware: the simulator, and a recording played back as one machine.

Both play a list of readings in real time (or faster), moved to the present: a reading is
released when the wall clock reaches its (shifted) time, as a real sensor would deliver it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from gymfloor.contract import (
    BadLine,
    ContractError,
    MachineChannel,
    MachineKey,
    Payload,
    SessionPayload,
    TelemetryPayload,
    TopicError,
    parse_machine_topic,
    read_recording,
)
from gymfloor.contract.payloads import decode_payload
from gymfloor_edge.driver import Frame, SessionChange
from gymfloor_edge.simulator import Imperfections, Member, script_machine
from gymfloor_edge.simulator.transport import publish_machine


class ScriptedDriver:
    def __init__(
        self, readings: Iterable[Frame | SessionChange], speed: float = 1.0, to_now: bool = True
    ) -> None:
        """`speed` 2 plays twice as fast; 0 as fast as the agent takes them. `to_now` moves the
        readings' times to the present; without it they keep the times they were made with."""
        self._readings = readings
        self._speed = speed
        self._to_now = to_now
        self._closed = threading.Event()

    def readings(self) -> Iterator[Frame | SessionChange]:
        upcoming = iter(self._readings)
        head = next(upcoming, None)
        if head is None:
            return
        first, started = _due(head), time.time()
        shift = started - first if self._to_now else 0.0
        for reading in itertools.chain([head], upcoming):
            if self._speed > 0:
                wait = started + (_due(reading) - first) / self._speed - time.time()
                if wait > 0 and self._closed.wait(wait):
                    return
            if self._closed.is_set():
                return
            yield _shifted(reading, shift)

    def close(self) -> None:
        self._closed.set()


def simulated_driver(
    seed: int, machine_id: str, speed: float = 1.0, members: Sequence[Member] = ()
) -> ScriptedDriver:
    """A simulated machine with members coming and going, for as long as it runs (see
    gymfloor_edge.simulator). The agent owns the transport, so only the sensors' imperfections
    are simulated. `members`: who may visit; with none, every visit is by a new member."""
    visits = _simulated_visits(np.random.default_rng(seed), machine_id, members)
    return ScriptedDriver(visits, speed)


def _simulated_visits(
    rng: np.random.Generator, machine_id: str, members: Sequence[Member]
) -> Iterator[Frame | SessionChange]:
    hz = float(rng.choice((50.0, 100.0, 200.0)))
    sensors_only = Imperfections(lost=0.0, duplicated=0.0, restarts=0.0)
    key = MachineKey("sim", machine_id)  # the simulator needs topics; only payloads are read here
    start = time.time()
    # One visit at a time, so memory stays small however long it runs; numbered from the start
    # time, so that sessions of another run against the same store get other ids.
    opened = int(start)
    for visit in itertools.count(opened):
        script = script_machine(
            rng,
            machine_id,
            start,
            visits=1,
            first_visit=visit,
            members=members,
            rounds_before=visit - opened,
        )
        messages = publish_machine(rng, key, script, start, hz, 0.1, sensors_only)
        messages.sort(key=lambda m: m.t)
        yield from _readings(m.payload for m in messages)
        start = script.t_end


def recording_driver(path: Path, machine_id: str, speed: float = 1.0) -> ScriptedDriver:
    """One machine's readings from a recording, at the times they were recorded with. Raises
    LookupError if the recording has none of that machine's messages."""
    payloads: list[Payload] = []
    with path.open("rb") as lines:
        for item in read_recording(lines):
            if isinstance(item, BadLine):
                continue
            try:  # the machine's telemetry and session events; the rest, and the invalid, not
                key, channel = parse_machine_topic(item.topic)
                if key.machine_id != machine_id:
                    continue
                if channel is MachineChannel.TELEMETRY:
                    payloads.append(decode_payload(TelemetryPayload, item.payload))
                elif channel is MachineChannel.SESSION:
                    payloads.append(decode_payload(SessionPayload, item.payload))
            except (TopicError, ContractError):
                continue
    if not payloads:
        raise LookupError(f"{path} holds no messages of machine {machine_id}")
    return ScriptedDriver(_readings(payloads), speed, to_now=False)


def _readings(payloads: Iterable[Payload]) -> Iterator[Frame | SessionChange]:
    """Valid telemetry and session payloads as a driver would have produced them: in time
    order, once each."""
    sensed_until = float("-inf")
    for payload in payloads:
        if isinstance(payload, TelemetryPayload):
            if payload.t0 < sensed_until - 0.5 / payload.hz:
                continue  # a repeat or a late arrival: the network's doing, not the sensors'
            sensed_until = payload.t0 + len(payload.sled_mm) / payload.hz
            yield Frame(
                payload.t0,
                payload.hz,
                payload.sled_mm,
                payload.lumbar_kpa,
                payload.sacral_kpa,
                payload.load_kg,
            )
        elif isinstance(payload, SessionPayload):
            yield SessionChange(
                payload.event,
                payload.t,
                payload.session_id,
                payload.member_id,
                payload.load_kg,
                payload.depth_limit_mm,
            )


def _due(reading: Frame | SessionChange) -> float:
    """When a reading exists: a frame once its last sample is taken, an event at once."""
    return reading.t_end if isinstance(reading, Frame) else reading.t


def _shifted(reading: Frame | SessionChange, shift: float) -> Frame | SessionChange:
    if isinstance(reading, Frame):
        return Frame(
            round(reading.t0 + shift, 4),
            reading.hz,
            reading.sled_mm,
            reading.lumbar_kpa,
            reading.sacral_kpa,
            reading.load_kg,
        )
    return SessionChange(
        reading.event,
        round(reading.t + shift, 3),
        reading.session_id,
        reading.member_id,
        reading.load_kg,
        reading.depth_limit_mm,
    )
