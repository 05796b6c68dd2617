"""How an edge agent's data reaches the broker: sampled with sensor noise, batched, and
delivered at least once, with the odd batch lost, repeated or late."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gymfloor.contract import VERSION, MachineChannel, MachineKey, Payload, TelemetryPayload
from gymfloor_edge.simulator.scenario import MachineScript


@dataclass(frozen=True, slots=True)
class Imperfections:
    """How far from ideal the sensors and the network are."""

    dropout: float = 0.01  # share of samples that arrive as null
    spike: float = 0.002  # share of samples that are wild
    lost: float = 0.01  # share of batches never delivered
    duplicated: float = 0.01  # share of batches delivered twice
    restarts: float = 0.2  # chance that an agent reboots once (new boot id, seq from 0)
    noise: float = 1.0  # scale of the sensor noise: 0.3-1 mm on the sled, 2 % on the pads

    @classmethod
    def none(cls) -> Imperfections:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Published:
    t: float
    topic: str
    payload: Payload


def publish_machine(
    rng: np.random.Generator,
    key: MachineKey,
    script: MachineScript,
    t0: float,
    hz: float,
    batch_s: float,
    imperfect: Imperfections,
) -> list[Published]:
    """Every message the machine's agent sends, stamped with when the broker gets it."""
    n = int((script.t_end - t0) * hz)
    t = t0 + np.arange(n) / hz
    sled, ratio, seated = script.timeline.sample(t)
    baseline = script.timeline.baseline_kpa(t)
    lumbar = baseline * ratio * seated
    sacral = np.zeros_like(t)
    for start, end, kpa in script.sacral_kpa:
        inside = (t >= start) & (t < end)
        sacral[inside] = kpa * (1.0 + 0.3 * (1.0 - ratio[inside]))
    sacral *= seated

    noise = imperfect.noise
    sled = sled + rng.normal(0.0, noise * rng.uniform(0.3, 1.0), n)
    lumbar = lumbar * (1.0 + rng.normal(0.0, noise * 0.02, n)) + rng.normal(0.0, noise * 0.03, n)
    sacral = sacral * (1.0 + rng.normal(0.0, noise * 0.02, n)) + rng.normal(0.0, noise * 0.03, n)
    wild = rng.random(n) < imperfect.spike
    sled[wild] += rng.choice([-1.0, 1.0], wild.sum()) * rng.uniform(10.0, 40.0, wild.sum())
    wild = rng.random(n) < imperfect.spike
    lumbar[wild] = rng.uniform(0.0, 2.0, wild.sum()) * lumbar[wild]

    def chunk(values: np.ndarray, digits: int, start: int, stop: int) -> list[float | None]:
        rounded: list[float | None] = np.round(values[start:stop], digits).tolist()
        for i in np.flatnonzero(rng.random(stop - start) < imperfect.dropout):
            rounded[i] = None
        return rounded

    out = [
        Published(event.t, key.topic(MachineChannel.SESSION), event.payload)
        for event in script.events
    ]
    telemetry_topic = key.topic(MachineChannel.TELEMETRY)
    per_batch = max(1, round(batch_s * hz))
    boot, seq = f"{rng.integers(16**6):06x}", int(rng.integers(0, 100_000))
    restart_at = n * rng.uniform(0.2, 0.8) if rng.random() < imperfect.restarts else None
    load_at = [t_load for t_load, _ in script.loads]
    for start in range(0, n, per_batch):
        if restart_at is not None and start >= restart_at:
            boot, seq, restart_at = f"{rng.integers(16**6):06x}", 0, None
        stop = min(n, start + per_batch)
        # In this order, which the drop-outs drawn from the seed follow.
        sled_mm = chunk(sled, 1, start, stop)
        lumbar_kpa = chunk(lumbar, 2, start, stop)
        sacral_kpa = chunk(sacral, 2, start, stop) if script.has_seat_pad else None
        loaded = np.searchsorted(load_at, t[start], side="right") - 1
        payload = TelemetryPayload(
            v=VERSION,
            seq=seq,
            boot=boot,
            t0=round(float(t[start]), 4),
            hz=hz,
            sled_mm=sled_mm,
            lumbar_kpa=lumbar_kpa,
            sacral_kpa=sacral_kpa,
            load_kg=script.loads[loaded][1] if loaded >= 0 and seated[start] > 0.5 else None,
        )
        seq += 1
        arrival = float(t[stop - 1]) + rng.uniform(0.005, 0.05)
        if rng.random() >= imperfect.lost:
            out.append(Published(arrival, telemetry_topic, payload))
        if rng.random() < imperfect.duplicated:  # a repeat, or the late arrival of a lost one
            out.append(Published(arrival + rng.uniform(0.05, 1.5), telemetry_topic, payload))
    return out
