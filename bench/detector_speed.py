"""Detector-core throughput.

Feeds 1,000 machines at 100 Hz in 10-sample batches, interleaved as a broker delivers them,
through `Detector.telemetry` on one core, and prints samples per second. Side by side, in the
same run, two per-sample Python loops over the same batches:

- the plain per-sample reference loop: the same detector with numba's JIT disabled, so the
  identical state machine runs sample by sample in CPython (in a subprocess, on fewer
  machines: it is slow);
- a floor: only the least any per-sample Python loop must do (a moving average of three
  channels and one threshold test), in plain floats and lists, detecting nothing.

What decoding a payload costs before the detector sees it: bench/decode_speed.py.

    python bench/detector_speed.py [--machines 1000] [--seconds 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace

from gymfloor.contract import (
    MachineKey,
    TelemetryBatch,
    TelemetryPayload,
    decode_telemetry,
    encode_payload,
)
from gymfloor.detector import Detector
from gymfloor_edge.simulator import Imperfections, SimulationPlan, simulate

DISTINCT_MACHINES = 20  # distinct simulated streams, shared round-robin by the machines


def batch_streams(seconds: float, batch_s: float = 0.1) -> list[list[TelemetryBatch]]:
    """100 Hz batches of several simulated machines, `seconds` long each."""
    plan = SimulationPlan(
        seed=3,
        machines=DISTINCT_MACHINES,
        visits=3,
        rates_hz=(100.0,),
        batch_s=batch_s,
        # Noisy sensors, but every batch delivered once, so that the streams can be replayed.
        imperfections=replace(Imperfections.none(), noise=1.0),
    )
    streams: dict[str, list[TelemetryBatch]] = {}
    for message in simulate(plan).messages:
        if isinstance(message.payload, TelemetryPayload):
            batch = decode_telemetry(encode_payload(message.payload))
            streams.setdefault(message.topic, []).append(batch)
    per_machine = int(seconds / batch_s)
    return [batches[:per_machine] for batches in streams.values()]


def feed(detector: Detector, streams: list[list[TelemetryBatch]], machines: int) -> int:
    keys = [MachineKey("bench", f"m{i}") for i in range(machines)]
    samples = 0
    for index in range(min(len(s) for s in streams)):
        for m, key in enumerate(keys):
            batch = streams[m % len(streams)][index]
            detector.telemetry(key, batch)
            samples += len(batch.sled_mm)
    return samples


def detector_rate(streams: list[list[TelemetryBatch]], machines: int, repeats: int) -> float:
    feed(Detector(), streams, 2)  # compile, or load the compiled kernel from cache
    rates = []
    for _ in range(repeats):
        detector = Detector()
        start = time.perf_counter()
        samples = feed(detector, streams, machines)
        rates.append(samples / (time.perf_counter() - start))
    return statistics.median(rates)


class FloorState:
    """Per machine: a 10-sample moving sum of three channels, and a count of alarms."""

    __slots__ = ("alarms", "i", "rings", "sums")

    def __init__(self) -> None:
        self.i = 0
        self.sums = [0.0, 0.0, 0.0]
        self.rings = [[0.0] * 10, [0.0] * 10, [0.0] * 10]
        self.alarms = 0


def minimal_loop_rate(streams: list[list[TelemetryBatch]], machines: int, repeats: int) -> float:
    def run() -> tuple[int, float]:
        states = [FloorState() for _ in range(machines)]
        samples = 0
        start = time.perf_counter()
        for index in range(min(len(s) for s in streams)):
            for m, st in enumerate(states):
                batch = streams[m % len(streams)][index]
                sums, (ring_a, ring_b, ring_c) = st.sums, st.rings
                for x, y in zip(batch.sled_mm.tolist(), batch.lumbar_kpa.tolist(), strict=True):
                    i = st.i
                    sums[0] += x - ring_a[i]
                    sums[1] += y - ring_b[i]
                    sums[2] += y - ring_c[i]
                    ring_a[i], ring_b[i], ring_c[i] = x, y, y
                    st.i = (i + 1) % 10
                    if sums[1] < 25.0:  # a mean below 2.5 kPa
                        st.alarms += 1
                    samples += 1
        return samples, time.perf_counter() - start

    rates = []
    for _ in range(repeats):
        samples, elapsed = run()
        rates.append(samples / elapsed)
    return statistics.median(rates)


def interpreted_rate(seconds: float, machines: int) -> float:
    """The detector with the JIT disabled, measured in a child process."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    code = (
        "import sys; sys.argv=['x']; import bench_detector_speed as b; "
        f"s=b.batch_streams({seconds}); print(b.detector_rate(s, {machines}, 1))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code.replace("bench_detector_speed", "detector_speed")],
        env=env,
        cwd=os.path.dirname(os.path.abspath(__file__)),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def state_memory(streams: list[list[TelemetryBatch]], machines: int) -> float:
    """Bytes allocated per machine once every machine has state."""
    detector = Detector()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for m in range(machines):
        detector.telemetry(MachineKey("bench", f"m{m}"), streams[m % len(streams)][0])
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / machines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated time per machine")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--interpreted-machines", type=int, default=50)
    args = parser.parse_args()

    streams = batch_streams(args.seconds)
    compiled = detector_rate(streams, args.machines, args.repeats)
    compiled_long = detector_rate(batch_streams(args.seconds, 1.0), args.machines, args.repeats)
    minimal = minimal_loop_rate(streams, args.machines, args.repeats)
    interpreted = interpreted_rate(min(args.seconds, 10.0), args.interpreted_machines)
    per_machine = state_memory(streams, args.machines)

    print(
        f"{args.machines} machines x 100 Hz, 10-sample batches, {args.seconds:g} s each; "
        f"median of {args.repeats}"
    )
    rows = [
        ("detector (compiled kernel)", f"{compiled / 1e6:8.3f} M samples/s", ""),
        (
            "  the same with 100-sample batches",
            f"{compiled_long / 1e6:8.3f} M samples/s",
            f"{compiled_long / compiled:6.1f}x the 10-sample rate",
        ),
        (
            "plain per-sample loop (same detector)",
            f"{interpreted / 1e6:8.3f} M samples/s",
            f"detector is {compiled / interpreted:6.1f}x",
        ),
        (
            "floor: a loop that only smooths",
            f"{minimal / 1e6:8.3f} M samples/s",
            f"detector is {compiled / minimal:6.1f}x",
        ),
        ("detector state per machine", f"{per_machine / 1024:8.1f} KiB", ""),
    ]
    for name, figure, comparison in rows:
        print(f"{name:38s} {figure:20s} {comparison}".rstrip())


if __name__ == "__main__":
    main()
