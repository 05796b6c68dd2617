"""How long a checkpoint stops ingest's pipeline thread, now and as it did before, side by side.

A pipeline is filled with N machines, each in the middle of a set (a few seconds of a simulated
member's telemetry), then checkpointed over and over, two ways in turn:

- `lazy` (ingest now): the pipeline thread takes a snapshot (`Pipeline.snapshot`: shallow lists
  of the machines, the alert tallies and the presence) and goes on; the committer's thread
  writes the checkpoint (`CheckpointFile.save`), freezing each machine as it goes. Between
  snapshot and write, every machine gets one more batch, as on a busy floor, so the pipeline
  thread also pays for freezing the machines it changes first. Timed: the snapshot (the pause),
  the next batch of every machine (extra work spread over the messages), and the write.
- `whole` (the method before): the pipeline thread pickles every machine's state, the alert
  policy and the presence straight to the file and fsyncs it, all before the next message. The
  machines pickle in today's compact form, so this is if anything faster than it was.

    python bench/checkpoint_pause.py [--machines 1000,3000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

from gymfloor.contract import encode_payload
from gymfloor.detector import Detector, warm_up
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.checkpoint import Checkpoint, CheckpointFile
from gymfloor.ingest.pipeline import Pipeline
from gymfloor_edge.simulator import SimulationPlan, simulate

WARM_S = 4.0
"""Seconds of telemetry each machine has had before the checkpoints."""


def machine_streams(count: int) -> list[list[tuple[str, bytes]]]:
    """`count` machines' messages: a few simulated streams, renamed per machine."""
    plan = SimulationPlan(seed=5, machines=8, visits=1)
    streams: dict[str, list[tuple[str, bytes, float]]] = {}
    for m in simulate(plan).messages:
        machine = m.topic.rsplit("/", 2)[1]
        streams.setdefault(machine, []).append((m.topic, encode_payload(m.payload), m.t))
    base = list(streams.values())
    out = []
    for index in range(count):
        stream = base[index % len(base)]
        t0 = stream[0][2]
        name = f"lp-{index:05d}"
        out.append(
            [
                (topic.replace(topic.rsplit("/", 2)[1], name), payload)
                for topic, payload, t in stream
                if t - t0 < WARM_S + 10
            ]
        )
    return out


def run(machines: int, repeats: int, folder: Path) -> dict[str, list[float]]:
    streams = machine_streams(machines)
    pipeline = Pipeline(Detector(), AlertPolicy(), trace_hz=10.0)
    cursor = [0] * machines

    def next_batch_of_every_machine() -> float:
        start = time.perf_counter()
        for index, stream in enumerate(streams):
            topic, payload = stream[cursor[index] % len(stream)]
            cursor[index] += 1
            pipeline.handle(topic, payload, 0.0, live=True)
        pipeline.take_changes()
        return time.perf_counter() - start

    for _ in range(int(WARM_S * 10)):
        next_batch_of_every_machine()
    times: dict[str, list[float]] = {
        "lazy: pause (snapshot)": [],
        "lazy: next batch of every machine": [],
        "  the same, no checkpoint": [],
        "lazy: write (committer thread)": [],
        "whole: pause (pickle, fsync)": [],
    }
    checkpoints = CheckpointFile(folder)
    for _ in range(repeats):
        times["  the same, no checkpoint"].append(next_batch_of_every_machine())
        start = time.perf_counter()
        snapshot = pipeline.snapshot()
        times["lazy: pause (snapshot)"].append(time.perf_counter() - start)
        times["lazy: next batch of every machine"].append(next_batch_of_every_machine())
        start = time.perf_counter()
        checkpoints.save(Checkpoint(0, snapshot))
        times["lazy: write (committer thread)"].append(time.perf_counter() - start)

        start = time.perf_counter()
        # The live objects, as the previous checkpoint pickled them.
        whole = (pipeline.detector._machines, pipeline.policy, pipeline.presence)
        with (folder / "whole.pickle").open("wb") as out:
            pickle.dump(whole, out, pickle.HIGHEST_PROTOCOL)
            out.flush()
            os.fsync(out.fileno())
        times["whole: pause (pickle, fsync)"].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", default="1000,3000", help="comma-separated floor sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warm_up()
    with tempfile.TemporaryDirectory() as folder:
        for machines in (int(n) for n in args.machines.split(",")):
            times = run(machines, args.repeats, Path(folder))
            print(f"{machines} machines, median of {args.repeats}, ms:")
            for name, seconds in times.items():
                print(f"  {name:40s} {statistics.median(seconds) * 1e3:8.2f}")


if __name__ == "__main__":
    main()
