"""The edge agent: a machine's sensor driver in, contract telemetry and session events out.

It cuts the samples into batches of a fixed duration, numbers them (`seq`, restarting from a
random value with a new `boot` id each time the agent starts) and hands them to the uplink,
which keeps them on disk until the broker has them.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field

from gymfloor.contract import VERSION, MachineChannel, MachineKey, TelemetryPayload, encode_payload
from gymfloor_edge.driver import Frame, SensorDriver, SessionChange
from gymfloor_edge.uplink import Uplink

log = logging.getLogger("gymfloor.edge")

MAX_BATCH_SAMPLES = 1000  # the contract's limit


@dataclass(slots=True)
class _Batch:
    t0: float
    hz: float
    sled_mm: list[float | None] = field(default_factory=list)
    lumbar_kpa: list[float | None] = field(default_factory=list)
    sacral_kpa: list[float | None] | None = None
    load_kg: float | None = None

    @property
    def t_next(self) -> float:
        return self.t0 + len(self.sled_mm) / self.hz

    def continues(self, frame: Frame) -> bool:
        """Whether the frame's samples follow on from this batch's, at the same rate."""
        return (
            frame.hz == self.hz
            and abs(frame.t0 - self.t_next) < 0.5 / self.hz
            and (frame.sacral_kpa is None) == (self.sacral_kpa is None)
        )


class EdgeAgent:
    def __init__(
        self,
        machine: MachineKey,
        driver: SensorDriver,
        uplink: Uplink,
        batch_interval_s: float = 0.1,
    ) -> None:
        self.machine = machine
        self.driver = driver
        self.uplink = uplink
        self.batch_interval_s = batch_interval_s
        self.boot = secrets.token_hex(3)
        self.seq = secrets.randbelow(1_000_000)
        self.batches = 0
        self._pending: _Batch | None = None

    def run(self, stopping: threading.Event, drain_timeout_s: float = 5.0) -> None:
        """Forward the driver's readings until it ends or `stopping` is set; then deliver what
        the broker can take within `drain_timeout_s` and keep the rest on disk."""
        self.uplink.start()
        log.info("agent for %s started", self.machine, extra={"boot": self.boot})
        # A driver may block waiting for its sensors; closing it is how it learns to stop.
        threading.Thread(target=_close_when, args=(stopping, self.driver), daemon=True).start()
        try:
            for reading in self.driver.readings():
                if stopping.is_set():
                    break
                if isinstance(reading, SessionChange):
                    self._send_batch()  # what happened before the event goes first
                    payload = encode_payload(reading.payload())
                    self.uplink.send(self.machine.topic(MachineChannel.SESSION), payload)
                else:
                    self._add(reading)
            self._send_batch()
        finally:
            self.driver.close()
            self.uplink.close(drain_timeout_s)
            log.info(
                "agent for %s stopped after %d batches",
                self.machine,
                self.batches,
                extra={
                    "undelivered": len(self.uplink.outbox),
                    "dropped": self.uplink.outbox.dropped,
                },
            )

    def _add(self, frame: Frame) -> None:
        per_batch = min(MAX_BATCH_SAMPLES, max(1, round(self.batch_interval_s * frame.hz)))
        if self._pending is not None and not self._pending.continues(frame):
            self._send_batch()
        n, i = len(frame.sled_mm), 0
        while i < n:
            if self._pending is None:
                sacral: list[float | None] | None = None if frame.sacral_kpa is None else []
                self._pending = _Batch(frame.t0 + i / frame.hz, frame.hz, sacral_kpa=sacral)
            batch = self._pending
            take = min(n - i, per_batch - len(batch.sled_mm))
            batch.sled_mm += frame.sled_mm[i : i + take]
            batch.lumbar_kpa += frame.lumbar_kpa[i : i + take]
            if batch.sacral_kpa is not None and frame.sacral_kpa is not None:
                batch.sacral_kpa += frame.sacral_kpa[i : i + take]
            if frame.load_kg is not None:
                batch.load_kg = frame.load_kg
            i += take
            if len(batch.sled_mm) >= per_batch:
                self._send_batch()

    def _send_batch(self) -> None:
        batch, self._pending = self._pending, None
        if batch is None:
            return
        payload = TelemetryPayload(
            v=VERSION,
            seq=self.seq,
            boot=self.boot,
            t0=round(batch.t0, 4),
            hz=batch.hz,
            sled_mm=batch.sled_mm,
            lumbar_kpa=batch.lumbar_kpa,
            sacral_kpa=batch.sacral_kpa,
            load_kg=batch.load_kg,
        )
        self.seq += 1
        self.batches += 1
        self.uplink.send(self.machine.topic(MachineChannel.TELEMETRY), encode_payload(payload))


def _close_when(stopping: threading.Event, driver: SensorDriver) -> None:
    stopping.wait()
    driver.close()
