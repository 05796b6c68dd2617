"""What the telemetry trace and the sinks cost ingest's pipeline thread, per message, measured
side by side.

The pipeline runs the same simulated floor five ways, in turn, `--repeats` times each:

- `plain`: detection alone;
- `trace`: with the telemetry trace downsampled (`trace_hz`), as ingest always runs now;
- `spooled`: the same, and every flush's changes turned into line protocol and appended to a
  spool on disk, which is all the InfluxDB sink adds to that thread (the sender has its own);
- `stored`: no trace, every flush written to a SQLite store (ingest before the board's plot);
- `stored+trace`: the trace too, its rows written to the store (ingest now, without InfluxDB).

Flushes come every 20 messages, as ingest's 0.2 s flush does on a floor of ten machines at
10 batches a second each; the store gets the trace every fifth flush, as ingest's does.
Prints the median microseconds per message of each way, the ratio to
`plain`, and the spool's bytes per message.

    python bench/sink_cost.py [--machines 10] [--visits 2] [--repeats 5] [--trace-hz 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from gymfloor.contract import encode_payload
from gymfloor.detector import Detector, warm_up
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore
from gymfloor.storage.timeseries.points import changes_lines
from gymfloor.storage.timeseries.spool import Spool
from gymfloor_edge.simulator import SimulationPlan, simulate

FLUSH_EVERY = 20
TRACE_EVERY = 100  # ingest writes the trace to its store once a second (5 flushes)


def run(
    messages: list[tuple[str, bytes, float]],
    trace_hz: float | None,
    spool: Spool | None = None,
    store: OperationalStore | None = None,
) -> float:
    """Seconds for the whole floor."""
    pipeline = Pipeline(Detector(), AlertPolicy(), trace_hz=trace_hz)
    unsaved = Changes()
    start = time.perf_counter()
    for index, (topic, payload, t) in enumerate(messages, 1):
        pipeline.handle(topic, payload, t, live=True)
        if index % FLUSH_EVERY == 0:
            changes = pipeline.take_changes()
            if spool is not None:
                spool.append(changes_lines(changes))
            if store is not None:  # as ingest's flush does, the trace every TRACE_EVERY
                unsaved.absorb(changes)
                with_trace = index % TRACE_EVERY == 0
                store.write(unsaved if with_trace else replace(unsaved, trace={}))
                unsaved = Changes(trace={} if with_trace else unsaved.trace)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=10)
    parser.add_argument("--visits", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trace-hz", type=float, default=10.0)
    args = parser.parse_args()

    plan = SimulationPlan(seed=9, machines=args.machines, visits=args.visits)
    messages = [(m.topic, encode_payload(m.payload), m.t) for m in simulate(plan).messages]
    warm_up()
    print(f"{len(messages)} messages from {args.machines} machines; trace at {args.trace_hz} Hz")
    times: dict[str, list[float]] = {
        way: [] for way in ("plain", "trace", "spooled", "stored", "stored+trace")
    }
    spooled_bytes = 0
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            times["plain"].append(run(messages, None))
            times["trace"].append(run(messages, args.trace_hz))
            spool = Spool(Path(folder) / str(repeat), max_bytes=1024**3)
            times["spooled"].append(run(messages, args.trace_hz, spool=spool))
            spooled_bytes = sum(p.stat().st_size for p in spool.directory.glob("*.lp"))
            spool.close()
            for way, trace_hz in (("stored", None), ("stored+trace", args.trace_hz)):
                store = OperationalStore(f"sqlite:///{folder}/{way}-{repeat}.db")
                times[way].append(run(messages, trace_hz, store=store))
                store.close()
    plain = statistics.median(times["plain"])
    print(f"{'way':13s} {'µs/message':>11s} {'ratio':>7s}")
    for way, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{way:13s} {median / len(messages) * 1e6:11.1f} {median / plain:7.2f}")
    print(f"spool: {spooled_bytes / len(messages):.0f} bytes per message")


if __name__ == "__main__":
    main()
