"""The live pipeline: a real Mosquitto, a real `gymfloor ingest`, simulated machines publishing.

Each trial starts a Mosquitto broker of its own and a fresh `gymfloor ingest` (with
`tests/support/processes.py`, as the live tests do), and publishes telemetry of simulated members
from separate publisher processes at QoS 1, with paho-mqtt or with a minimal MQTT client that costs
a tenth of paho's CPU time. Ingest's JSON status lines, every 0.1 s, say how many messages it
has processed and how many wait in its memory.

1. Throughput: a fixed stream of telemetry messages, published as fast as the publishers can,
   received side by side in the same run by `mosquitto_sub` (a C client doing nothing with the
   messages: the ceiling) and by ingest. Both are timed from the first publish. Once with paho
   publishers, once with the minimal client; each also without ingest running.
2. Real time: N machines at 100 Hz in 0.1 s batches (10 messages/s each), each message sent
   when its machine would send it, for N doubling until ingest falls behind.
3. Feedback latency: machines in real time while a client subscribes to the feedback topics;
   each feedback message names the telemetry batch (boot, seq) that revealed the fault, and is
   timed from when that batch was sent and from when the broker acknowledged it.
4. Memory: ingest's resident memory (VmRSS) before any machine and after N machines, from the
   trials of parts 2 and 3.

    python bench/pipeline.py [--quick] [--parts throughput,realtime,latency] [--client lean]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.context import ForkProcess
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support
from tests.support.processes import Mosquitto, Service, wait_until

GYM = "bench"
BATCH_S = 0.1  # 100 Hz in 10-sample batches: 10 messages per machine per second
PART_NAMES = ("throughput", "realtime", "latency")
READY_TOPIC = "bench/ready"  # probed until mosquitto_sub has subscribed


@dataclass(frozen=True, slots=True)
class Setup:
    lean: bool = False  # publish with LeanSender rather than paho
    ingest_env: dict[str, str] = field(default_factory=dict)  # more settings for ingest


def say(text: str, indent: str = "") -> None:
    """Prose of the report, wrapped at 100 columns; tables are printed as they are."""
    print(textwrap.fill(text, 100, initial_indent=indent, subsequent_indent=indent + "  "))


# -- the stream --------------------------------------------------------------------------------


class Batch(NamedTuple):
    payload: bytes
    boot: str
    seq: int
    samples: int


class Outgoing(NamedTuple):
    due: float  # seconds after the start
    topic: str
    payload: bytes
    boot: str
    seq: int
    samples: int


def simulated_streams(distinct: int, seed: int) -> list[list[Batch]]:
    """Telemetry of `distinct` simulated machines, three members each, JSON-encoded once.

    Noisy sensors, nulls, wild samples and agent reboots as the simulator makes them, but every
    batch is published once: the broker here is real, and its job is delivery."""
    from gymfloor.contract import TelemetryPayload, encode_payload
    from gymfloor_edge.simulator import Imperfections, SimulationPlan, simulate

    plan = SimulationPlan(
        seed=seed,
        machines=distinct,
        visits=3,
        gym_id=GYM,
        rates_hz=(100.0,),
        batch_s=BATCH_S,
        imperfections=replace(Imperfections(), lost=0.0, duplicated=0.0),
    )
    streams: dict[str, list[Batch]] = {}
    for message in simulate(plan).messages:
        if message.topic.endswith("/telemetry"):
            p = message.payload
            assert isinstance(p, TelemetryPayload)
            batch = Batch(encode_payload(p), str(p.boot), p.seq, len(p.sled_mm))
            streams.setdefault(message.topic, []).append(batch)
    return list(streams.values())


def schedule(
    streams: list[list[Batch]], machines: int, seconds: float, seed: int
) -> list[Outgoing]:
    """`machines` machines for `seconds`, in the order they send. Each machine replays one of
    the simulated streams from its own starting point and sends at its own phase within the
    0.1 s period, so that sets, faults and messages are spread as on a gym floor."""
    rng = random.Random(seed)
    count = round(seconds / BATCH_S)
    usable = [s for s in streams if len(s) >= count]
    if not usable:
        raise SystemExit(f"no simulated stream is {seconds:g} s long; use fewer seconds")
    out: list[Outgoing] = []
    for m in range(machines):
        stream = usable[m % len(usable)]
        first = rng.randrange(len(stream) - count + 1)
        phase = rng.uniform(0.0, BATCH_S)
        topic = f"gymfloor/v1/{GYM}/m{m:05d}/telemetry"
        for i in range(count):
            batch = stream[first + i]
            out.append(
                Outgoing(
                    phase + i * BATCH_S, topic, batch.payload, batch.boot, batch.seq, batch.samples
                )
            )
    out.sort(key=lambda o: o.due)
    return out


def split(messages: list[Outgoing], publishers: int) -> list[list[Outgoing]]:
    """By machine, so that each machine's messages leave one client, in order."""
    parts: list[list[Outgoing]] = [[] for _ in range(publishers)]
    owner: dict[str, int] = {}
    for message in messages:
        index = owner.setdefault(message.topic, len(owner) % publishers)
        parts[index].append(message)
    return parts


# -- publisher processes -----------------------------------------------------------------------


@dataclass
class Published:
    """Per message of a publisher's share: when the client took it (publish() returned; for the
    lean client, the packet is in the socket by then) and when the broker's PUBACK arrived, in
    wall-clock time.time(), comparable across processes."""

    sent: np.ndarray
    acked: np.ndarray
    cpu_s: float  # the publisher's own CPU time, its network thread included


class PahoSender:
    """paho-mqtt, as gymfloor's own clients use it: its network thread sends and reads."""

    def __init__(self, port: int, client_id: str) -> None:
        self.acks: list[tuple[int, float]] = []  # list.append is atomic: no lock shared with paho
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = lambda c, u, mid, reason, props: self.acks.append(
            (mid, time.time())
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10.0, "the publisher's connection")

    def publish(self, topic: str, payload: bytes) -> int:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        return info.mid

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class LeanSender:
    """The least an MQTT 3.1.1 client must do to publish at QoS 1: one PUBLISH packet written
    per message, PUBACKs read by a thread. For when paho's own CPU time would be the limit."""

    def __init__(self, port: int, client_id: str) -> None:
        self.acks: list[tuple[int, float]] = []
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # CONNECT: protocol "MQTT" level 4, clean session, no keep-alive; then the client id.
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + _mqtt_string(client_id.encode())
        self.sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
        connack = self._read(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the connection: {connack!r}")
        self.mid = 0
        self.reader = threading.Thread(target=self._read_acks, daemon=True)
        self.reader.start()

    def publish(self, topic: str, payload: bytes) -> int:
        self.mid = self.mid % 65535 + 1
        body = _mqtt_string(topic.encode()) + self.mid.to_bytes(2, "big") + payload
        self.sock.sendall(b"\x32" + _remaining_length(len(body)) + body)
        return self.mid

    def close(self) -> None:
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise RuntimeError("the broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        pending = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            at = time.time()
            # Without subscriptions or keep-alive, PUBACKs are all the broker sends.
            pending += chunk
            whole = len(pending) - len(pending) % 4
            for offset in range(0, whole, 4):  # PUBACK: 0x40, 2, then the message id
                self.acks.append((int.from_bytes(pending[offset + 2 : offset + 4], "big"), at))
            pending = pending[whole:]


def _mqtt_string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(
    port: int, index: int, messages: list[Outgoing], paced: bool, lean: bool, conn: Connection
) -> None:
    """Runs in a forked process: connect, wait for the start time, publish, report the times;
    or report what went wrong, for the bench to raise."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # on Ctrl-C the bench ends it
    try:
        result: Published | str = _publish_share(port, index, messages, paced, lean, conn)
    except Exception as exc:
        result = f"publisher {index}: {exc!r}"
    with suppress(OSError):
        conn.send(result)


def _publish_share(
    port: int, index: int, messages: list[Outgoing], paced: bool, lean: bool, conn: Connection
) -> Published:
    conn.recv()  # "connect"
    client_id = f"bench-publisher-{index}"
    sender = LeanSender(port, client_id) if lean else PahoSender(port, client_id)
    acks = sender.acks
    conn.send("ready")
    start: float = conn.recv()
    n = len(messages)
    sent = np.zeros(n)
    mids = np.zeros(n, dtype=np.int64)
    while time.time() < start:
        time.sleep(0.0005)
    cpu = time.process_time()
    for i, message in enumerate(messages):
        if paced:
            wait = start + message.due - time.time()
            if wait > 0.001:
                time.sleep(wait)
        # Message ids are 16 bits, and paho does not check that one is free: bound what is
        # outstanding.
        while i - len(acks) >= 20_000:
            time.sleep(0.0005)
        mids[i] = sender.publish(message.topic, message.payload)
        sent[i] = time.time()
    wait_until(lambda: len(acks) >= n, 120.0, "the broker's acknowledgements")
    cpu = time.process_time() - cpu
    sender.close()
    # A message id is reused only after its previous message was acknowledged, so the k-th
    # acknowledgement of an id belongs to the k-th message sent with it.
    waiting: dict[int, deque[int]] = {}
    for i, mid in enumerate(mids.tolist()):
        waiting.setdefault(mid, deque()).append(i)
    acked = np.zeros(n)
    for mid, at in acks:
        acked[waiting[mid].popleft()] = at
    return Published(sent, acked, cpu)


class Publishers:
    """Publisher processes, forked before the trial starts any thread, started together."""

    def __init__(self, port: int, shares: list[list[Outgoing]], paced: bool, lean: bool) -> None:
        context = multiprocessing.get_context("fork")
        self.shares = shares
        self.processes: list[ForkProcess] = []
        self.conns: list[Connection] = []
        for index, share in enumerate(shares):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_publish, args=(port, index, share, paced, lean, theirs), daemon=True
            )
            process.start()
            theirs.close()
            self.processes.append(process)
            self.conns.append(ours)

    def start(self, lead_s: float = 0.5) -> float:
        for conn in self.conns:
            conn.send("connect")
        for conn in self.conns:
            answer = conn.recv() if conn.poll(30.0) else "a publisher did not connect"
            if answer != "ready":
                raise RuntimeError(answer)
        start = time.time() + lead_s
        for conn in self.conns:
            conn.send(start)
        return start

    def results(self, timeout: float) -> list[Published]:
        results = []
        for conn in self.conns:
            if not conn.poll(timeout):
                raise RuntimeError("a publisher did not finish")
            result = conn.recv()
            if not isinstance(result, Published):
                raise RuntimeError(result)
            results.append(result)
        for process in self.processes:
            process.join(10.0)
        return results

    def close(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(10.0)
        for conn in self.conns:
            conn.close()


# -- broker, ingest and what they say ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stat:
    ts: float
    processed: int  # accepted or rejected
    queued: int
    feedback: int
    machines: int


@dataclass
class Trial:
    broker: Mosquitto
    ingest: Service
    publishers: Publishers
    folder: Path
    _read: int = 0
    _stats: list[Stat] = field(default_factory=list)

    def stats(self) -> list[Stat]:
        while self._read < len(self.ingest.log):
            line = self.ingest.log[self._read]
            self._read += 1
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "ingest running":
                self._stats.append(
                    Stat(
                        entry["ts"],
                        entry["messages"] + entry["rejected"],
                        entry["queued"],
                        entry["feedback"],
                        entry["machines"],
                    )
                )
        return self._stats

    def processed(self) -> int:
        stats = self.stats()
        return stats[-1].processed if stats else 0

    def ingest_cpu_s(self) -> float:
        assert self.ingest.process is not None
        return cpu_seconds(self.ingest.process.pid)

    def settled_rss_kib(self) -> int:
        """The least VmRSS over a checkpoint interval (5 s): a checkpoint allocates while it
        pickles every machine's state, and the sample must not fall on one."""
        least = self.rss_kib()
        deadline = time.monotonic() + 5.2
        while time.monotonic() < deadline:
            time.sleep(0.2)
            least = min(least, self.rss_kib())
        return least

    def rss_kib(self, name: str = "VmRSS") -> int:
        assert self.ingest.process is not None
        status = Path(f"/proc/{self.ingest.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith(f"{name}:"))
        return int(line.split()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def trial(
    folder: Path,
    shares: list[list[Outgoing]],
    paced: bool,
    setup: Setup,
    with_ingest: bool = True,
) -> Iterator[Trial]:
    """A fresh broker and ingest, with the publishers forked before either starts. Everything
    is stopped on the way out, whatever happens (each step even if an earlier one fails)."""
    folder.mkdir(parents=True)
    finished = False
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        broker = Mosquitto(folder / "broker")
        cleanup.callback(broker.stop)
        publishers = Publishers(broker.port, shares, paced, setup.lean)
        cleanup.callback(publishers.close)
        ingest = Service(
            "ingest",
            env={
                "GYMFLOOR_MQTT_URL": broker.url,
                "GYMFLOOR_DATA_DIR": str(folder / "data"),
                "GYMFLOOR_LOG_FORMAT": "json",
                "GYMFLOOR_INGEST__STATS_INTERVAL_S": "0.1",
                **setup.ingest_env,
            },
        )
        cleanup.callback(lambda: _stop_ingest(ingest, gently=finished))
        broker.start()
        if with_ingest:
            ingest.start()
            ingest.wait_for_log("subscribed", timeout=120.0)
        yield Trial(broker, ingest, publishers, folder)
        finished = True


def _stop_ingest(ingest: Service, gently: bool) -> None:
    if not ingest.running:
        return
    assert ingest.process is not None
    if gently:
        ingest.stop(120.0)  # SIGTERM: it finishes what it has and saves a checkpoint
    else:
        ingest.process.kill()
        ingest.process.wait(10.0)


def processed_at(stats: Sequence[Stat], count: int) -> float | None:
    """When ingest had processed `count` messages, interpolated between status lines."""
    previous: Stat | None = None
    for stat in stats:
        if stat.processed >= count:
            if previous is None or stat.processed == previous.processed:
                return stat.ts
            share = (count - previous.processed) / (stat.processed - previous.processed)
            return previous.ts + share * (stat.ts - previous.ts)
        previous = stat
    return None


# -- part 1: throughput ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flood:
    publish_s: float  # from the first publish until the last PUBACK
    subscriber_s: float  # until mosquitto_sub printed the last message
    ingest_s: float  # until ingest had processed the last message (nan: no ingest)
    max_queued: int
    cpu_s: dict[str, float]  # CPU time of each party during the run


def flood_once(
    folder: Path, shares: list[list[Outgoing]], setup: Setup, with_ingest: bool
) -> Flood:
    total = sum(len(s) for s in shares)
    with ExitStack() as stack:
        t = stack.enter_context(trial(folder, shares, False, setup, with_ingest))
        received = folder / "mosquitto_sub.out"
        out = stack.enter_context(received.open("wb"))
        subscriber = subprocess.Popen(
            [
                *("mosquitto_sub", "-h", "127.0.0.1", "-p", str(t.broker.port), "-q", "1"),
                *("-t", "gymfloor/v1/+/+/telemetry", "-t", READY_TOPIC, "-F", "%U %t"),
            ],
            stdout=out,
        )
        stack.callback(_end, subscriber)
        _wait_subscribed(t.broker.port, received)
        assert t.broker.process is not None
        broker_cpu = cpu_seconds(t.broker.process.pid)
        ingest_cpu = t.ingest_cpu_s() if with_ingest else 0.0
        start = t.publishers.start()
        published = t.publishers.results(timeout=600.0)
        wait_until(lambda: _telemetry_lines(received) >= total, 60.0, "mosquitto_sub")
        cpu = {"mosquitto_sub": cpu_seconds(subscriber.pid)}
        if with_ingest:
            wait_until(lambda: t.processed() >= total, 600.0, "ingest to process the stream")
            cpu["ingest"] = t.ingest_cpu_s() - ingest_cpu
        cpu["broker"] = cpu_seconds(t.broker.process.pid) - broker_cpu
        cpu["publishers"] = sum(p.cpu_s for p in published)
        times = [
            float(line.split(maxsplit=1)[0])
            for line in received.read_text().splitlines()
            if line.endswith("/telemetry")
        ]
        done = processed_at(t.stats(), total) if with_ingest else None
        return Flood(
            max(float(p.acked.max()) for p in published) - start,
            max(times) - start,
            float("nan") if done is None else done - start,
            max((s.queued for s in t.stats()), default=0),
            cpu,
        )


def _wait_subscribed(port: int, received: Path) -> None:
    """Publish to the probe topic until mosquitto_sub has printed one."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        deadline = time.monotonic() + 10.0
        while READY_TOPIC.encode() not in received.read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto_sub did not subscribe")
            client.publish(READY_TOPIC, b"ready", qos=1).wait_for_publish(5.0)
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()


def _telemetry_lines(path: Path) -> int:
    return path.read_bytes().count(b"/telemetry\n")


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(10.0)


def throughput(
    folder: Path, streams: list[list[Batch]], args: argparse.Namespace, setup: Setup
) -> None:
    seconds = args.messages / args.flood_machines * BATCH_S
    messages = schedule(streams, args.flood_machines, seconds, args.seed)
    total = len(messages)
    samples_per_message = sum(m.samples for m in messages) / total
    print()
    say(
        f"1. throughput: {total} telemetry messages of {args.flood_machines} machines "
        f"({samples_per_message:.0f} samples each), published as fast as the publishers go; "
        f"median of {args.repeats}"
    )

    def row(name: str, times: list[float]) -> None:
        median = statistics.median(times)
        rate = total / median
        print(
            f"   {name:40s} {median:5.2f} s {rate:7.0f} messages/s "
            f"{rate * samples_per_message / 1e3:5.0f} k samples/s"
        )

    for client in args.flood_clients.split(","):
        lean = client == "lean"
        count = args.lean_flood_publishers if lean else args.flood_publishers
        shares = split(messages, count)
        run_setup = replace(setup, lean=lean)
        together: list[Flood] = []
        alone: list[Flood] = []
        for r in range(args.repeats):
            together.append(flood_once(folder / f"{client}-{r}", shares, run_setup, True))
            if args.flood_alone:
                alone.append(flood_once(folder / f"{client}-alone-{r}", shares, run_setup, False))
        print(f"   {count} {client} publisher process{'es' if count > 1 else ''}; same runs:")
        row("  publishers, until the last PUBACK", [r.publish_s for r in together])
        row("  mosquitto_sub has all (the ceiling)", [r.subscriber_s for r in together])
        row("  ingest has processed all", [r.ingest_s for r in together])
        ratios = [r.subscriber_s / r.ingest_s for r in together]
        print(
            f"     ingest / mosquitto_sub rate: {statistics.median(ratios):.2f} "
            f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 0.50)"
        )
        cpu = {
            name: statistics.median([r.cpu_s[name] for r in together]) / total * 1e6
            for name in ("ingest", "broker", "mosquitto_sub", "publishers")
        }
        print("     CPU per message: " + ", ".join(f"{n} {us:.1f} us" for n, us in cpu.items()))
        print(
            f"     ingest held up to {statistics.median([r.max_queued for r in together]):.0f} "
            f"messages in memory; its CPU cost allows {1e6 / cpu['ingest']:.0f} messages/s "
            "per core"
        )
        if alone:
            print("   the same with no ingest running, alternating with the runs above:")
            row("  mosquitto_sub has all", [r.subscriber_s for r in alone])
            ratio = statistics.median([r.subscriber_s for r in alone]) / statistics.median(
                [r.ingest_s for r in together]
            )
            print(f"     ingest (above) / this rate: {ratio:.2f}")


# -- part 2: real time, and memory -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Live:
    machines: int
    publishers: int
    offered: float  # messages/s the publishers achieved over the run
    late_p99_ms: float  # how far behind their schedule the publishers sent
    max_backlog: int  # published and not yet processed, at its largest
    max_queued: int  # of which in ingest's memory
    drain_s: float | None  # after the last message was published, until all were processed
    ingest_cores: float  # CPU time over wall time, from the start until all was processed
    publisher_cores: float
    rss0_kib: int  # before the first message
    rss_kib: int  # the least over a checkpoint interval once all was processed
    peak_kib: int  # VmHWM

    @property
    def kept_to_schedule(self) -> bool:
        return self.late_p99_ms < BATCH_S * 1e3

    @property
    def kept_up(self) -> bool:
        return (
            self.drain_s is not None
            and self.drain_s <= 2.0
            and self.max_backlog < 10 * self.machines  # less than 1 s of traffic
        )

    def per_machine_kib(self) -> float:
        return (self.rss_kib - self.rss0_kib) / self.machines


def realtime_once(
    folder: Path,
    streams: list[list[Batch]],
    machines: int,
    seconds: float,
    publishers: int,
    setup: Setup,
) -> Live:
    messages = schedule(streams, machines, seconds, seed=machines)
    total = len(messages)
    with trial(folder, split(messages, publishers), True, setup) as t:
        time.sleep(1.0)
        rss0 = t.rss_kib()
        cpu0 = t.ingest_cpu_s()
        start = t.publishers.start()
        published = t.publishers.results(timeout=seconds + 600.0)
        finished = max(float(p.sent[-1]) for p in published)
        with suppress(AssertionError):
            wait_until(lambda: t.processed() >= total, 15.0, "ingest to catch up")
        ingest_cores = (t.ingest_cpu_s() - cpu0) / (time.time() - start)
        rss = t.settled_rss_kib()
        peak = t.rss_kib("VmHWM")
        stats = t.stats()
    sent = np.sort(np.concatenate([p.sent for p in published]))
    due = np.sort(np.array([start + m.due for m in messages]))
    window = [s for s in stats if start <= s.ts <= finished]
    backlog = [int(np.searchsorted(sent, s.ts, side="right")) - s.processed for s in window]
    done = processed_at(stats, total)
    late = sent - due  # both sorted: the k-th message sent against the k-th due
    return Live(
        machines,
        publishers,
        total / (finished - start),
        float(np.percentile(late, 99)) * 1e3,
        max(backlog, default=0),
        max((s.queued for s in window), default=0),
        None if done is None else max(0.0, done - finished),
        ingest_cores,
        sum(p.cpu_s for p in published) / (finished - start),
        rss0,
        rss,
        peak,
    )


def realtime(
    folder: Path, streams: list[list[Batch]], args: argparse.Namespace, setup: Setup
) -> None:
    print()
    say(
        f"2. real time: N machines x 10 messages/s for {args.seconds:g} s, paced, "
        f"{'lean' if setup.lean else 'paho'} publishers. Ingest keeps up if what is published "
        "and not yet processed (backlog) stays under 1 s of traffic and all is processed within "
        "2 s of the end (drain). Late: the publishers' p99 behind schedule. CPU in cores (of "
        "2). 4. memory: ingest's VmRSS in MiB before the first message, after (the least over "
        "one checkpoint interval) and at its peak; KiB/m = (RSS - RSS0) / N."
    )
    print(
        f"   {'N':>5s} {'pub':>3s} {'sent/s':>6s} {'late':>5s} {'backlog':>7s} {'queued':>6s} "
        f"{'drain':>6s} {'ingest':>6s} {'pubs':>4s} {'RSS0':>4s} {'RSS':>4s} {'peak':>4s} "
        f"{'KiB/m':>6s}  verdict"
    )
    results: list[Live] = []
    needed = [args.publishers]  # publishers that kept to the schedule at the last size

    def run(machines: int) -> Live:
        publishers = needed[0]
        while True:
            r = realtime_once(
                folder / f"live-{machines}-{publishers}",
                streams,
                machines,
                args.seconds,
                publishers,
                setup,
            )
            verdict = (
                "publishers late"
                if not r.kept_to_schedule
                else "keeps up"
                if r.kept_up
                else "falls behind"
            )
            drain = "never" if r.drain_s is None else f"{r.drain_s:5.2f}s"
            print(
                f"   {machines:5d} {publishers:3d} {r.offered:6.0f} {r.late_p99_ms:3.0f}ms "
                f"{r.max_backlog:7d} {r.max_queued:6d} {drain:>6s} {r.ingest_cores:6.2f} "
                f"{r.publisher_cores:4.2f} {r.rss0_kib / 1024:4.0f} {r.rss_kib / 1024:4.0f} "
                f"{r.peak_kib / 1024:4.0f} {r.per_machine_kib():6.1f}  {verdict}",
                flush=True,
            )
            results.append(r)
            if r.kept_to_schedule or publishers >= args.max_publishers:
                needed[0] = max(needed[0], publishers)
                return r
            publishers += 1

    machines = args.start_machines
    good: Live | None = None
    bad: Live | None = None
    while machines <= args.max_machines:
        r = run(machines)
        if not (r.kept_to_schedule and r.kept_up):
            bad = r
            break
        good = r
        machines *= 2
    if good is not None and bad is not None and bad.kept_to_schedule:
        for _ in range(args.refine):
            middle = (good.machines + bad.machines) // 2
            if middle in (good.machines, bad.machines):
                break
            r = run(middle)
            if r.kept_to_schedule and r.kept_up:
                good = r
            elif r.kept_to_schedule:
                bad = r
            else:
                break
    if good is None:
        print(f"   ingest kept up with none of the sizes tried (from {args.start_machines})")
    else:
        limit = (
            f"{bad.machines} fell behind"
            if bad is not None and bad.kept_to_schedule
            else "then the publishers could not keep to their schedule"
            if bad is not None
            else f"the cap, {args.max_machines}, was reached"
        )
        print(f"   largest N kept up with: {good.machines} ({limit})")
    kept = [r for r in results if r.kept_up and r.kept_to_schedule]
    if kept:
        biggest = max(kept, key=lambda r: r.machines)
        per = biggest.per_machine_kib()
        peak = (biggest.peak_kib - biggest.rss0_kib) / biggest.machines
        print(
            f"   memory per machine at N={biggest.machines}: {per:.1f} KiB = {per * 1.024:.1f} KB "
            f"(target < 50 KB); at the peak {peak:.1f} KiB"
        )
    if len(kept) >= 2:
        slope = np.polyfit([r.machines for r in kept], [r.rss_kib - r.rss0_kib for r in kept], 1)[0]
        print(f"   slope of the growth over the sizes kept up with: {slope:.1f} KiB per machine")


# -- part 3: feedback latency ------------------------------------------------------------------


def latency(
    folder: Path, streams: list[list[Batch]], args: argparse.Namespace, setup: Setup
) -> None:
    machines, seconds = args.latency_machines, args.latency_seconds
    messages = schedule(streams, machines, seconds, seed=1)
    received: list[tuple[str, bytes, float]] = []
    with trial(folder / "latency", split(messages, args.publishers), True, setup) as t:
        listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-feedback")
        subscribed: list[Any] = []
        listener.on_message = lambda c, u, msg: received.append(
            (msg.topic, bytes(msg.payload), time.time())
        )
        listener.on_subscribe = lambda c, u, mid, reasons, props: subscribed.append(reasons)
        listener.connect("127.0.0.1", t.broker.port)
        listener.loop_start()
        try:
            listener.subscribe("gymfloor/v1/+/+/feedback", qos=1)
            wait_until(lambda: bool(subscribed), 10.0, "the feedback subscription")
            time.sleep(1.0)
            rss0 = t.rss_kib()
            t.publishers.start()
            published = t.publishers.results(timeout=seconds + 600.0)
            wait_until(lambda: t.processed() >= len(messages), 60.0, "ingest to catch up")
            rss = t.settled_rss_kib()
            feedback_count = t.stats()[-1].feedback
        finally:
            listener.disconnect()
            listener.loop_stop()
    when: dict[tuple[str, str, int], tuple[float, float]] = {}
    for share, result in zip(t.publishers.shares, published, strict=True):
        for message, sent, acked in zip(
            share, result.sent.tolist(), result.acked.tolist(), strict=True
        ):
            machine = message.topic.split("/")[3]
            when[(machine, message.boot, message.seq)] = (sent, acked)
    from_sent, from_ack = [], []
    unmatched = 0
    for topic, payload, at in received:
        body = json.loads(payload)
        key = (topic.split("/")[3], body.get("boot"), body.get("seq"))
        if key not in when:
            unmatched += 1
            continue
        sent, acked = when[key]
        from_sent.append(at - sent)
        from_ack.append(at - acked)
    print()
    say(
        f"3. feedback latency: {machines} machines x 10 messages/s for {seconds:g} s, paced, "
        f"{args.publishers} {'lean' if setup.lean else 'paho'} publisher process; "
        f"{len(received)} feedback messages received ({feedback_count} published by ingest, "
        f"{unmatched} not matched to a batch)"
    )
    sent_name = "from the PUBLISH written" if setup.lean else "from publish() returning"
    for name, values in ((sent_name, from_sent), ("from the broker's PUBACK", from_ack)):
        if values:
            ms = np.array(values) * 1e3
            print(
                f"   {name:26s} p50 {np.percentile(ms, 50):5.1f} ms  "
                f"p99 {np.percentile(ms, 99):5.1f} ms  max {ms.max():5.1f} ms  "
                "(target p99 <= 25, max <= 100)"
            )
    say(
        f"ingest VmRSS {rss0 / 1024:.0f} MiB before, {rss / 1024:.0f} MiB after (the least "
        f"over a checkpoint interval): {(rss - rss0) / machines:.1f} KiB per machine",
        "   ",
    )


# -- main --------------------------------------------------------------------------------------


def describe_machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mosquitto = subprocess.run(
        ["mosquitto_sub", "--help"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    version = next((line for line in mosquitto if "version" in line), "").strip()
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), Python "
        f"{platform.python_version()}; {version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--parts",
        default=",".join(PART_NAMES),
        help=f"comma-separated, of {', '.join(PART_NAMES)} (memory comes with realtime)",
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a first look")
    parser.add_argument("--seed", type=int, default=7, help="of the simulated members")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs")
    parser.add_argument("--messages", type=int, default=60_000, help="in the throughput stream")
    parser.add_argument("--flood-machines", type=int, default=500, help="in that stream")
    parser.add_argument(
        "--flood-clients",
        default="paho,lean",
        help="MQTT clients to publish the stream with, in turn: paho, lean (a minimal client)",
    )
    parser.add_argument(
        "--flood-publishers", type=int, default=2, help="paho processes publishing the stream"
    )
    parser.add_argument(
        "--lean-flood-publishers", type=int, default=1, help="lean processes publishing it"
    )
    parser.add_argument(
        "--no-flood-alone",
        dest="flood_alone",
        action="store_false",
        help="skip the throughput runs without ingest",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="of each real-time trial")
    parser.add_argument("--start-machines", type=int, default=100)
    parser.add_argument("--max-machines", type=int, default=6400)
    parser.add_argument(
        "--refine", type=int, default=2, help="trials between the last N kept up and the first not"
    )
    parser.add_argument("--publishers", type=int, default=1, help="processes for real time")
    parser.add_argument(
        "--max-publishers",
        type=int,
        default=3,
        help="add publisher processes up to this many while they fall behind their schedule",
    )
    parser.add_argument("--latency-machines", type=int, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=45.0)
    parser.add_argument(
        "--client",
        choices=("lean", "paho"),
        default="lean",
        help="MQTT client of the real-time publishers: a minimal one that costs a tenth of "
        "paho's CPU time, leaving the cores to the broker and ingest, or paho",
    )
    parser.add_argument(
        "--ingest-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable for ingest, e.g. to try a setting",
    )
    if parser.parse_known_args()[0].quick:  # shorter defaults; flags given still win
        parser.set_defaults(
            repeats=1,
            messages=20_000,
            seconds=6.0,
            max_machines=800,
            refine=0,
            latency_seconds=15.0,
        )
    args = parser.parse_args()
    setup = Setup(args.client == "lean", dict(item.split("=", 1) for item in args.ingest_env))
    parts = set(args.parts.split(","))
    if parts - set(PART_NAMES):
        parser.error(f"unknown parts: {', '.join(sorted(parts - set(PART_NAMES)))}")

    say(f"machine: {describe_machine()}")
    say(
        "each trial: its own Mosquitto and a fresh `gymfloor ingest` (journal and SQLite store "
        "in a temporary directory), QoS 1; publishers are separate processes on the same machine"
    )
    say("parameters: " + " ".join(f"{k}={v}" for k, v in vars(args).items() if k != "quick"))
    started = time.perf_counter()
    longest = max(args.seconds, args.latency_seconds) + 1.0
    streams = simulated_streams(24, args.seed)
    streams = [s for s in streams if len(s) * BATCH_S >= longest] or streams
    say(
        f"simulated: {len(streams)} distinct machine streams of {min(map(len, streams))}-"
        f"{max(map(len, streams))} batches, replayed by every machine from its own starting "
        f"point ({time.perf_counter() - started:.1f} s to generate)"
    )
    sys.stdout.flush()
    interrupted = threading.Event()

    def interrupt(signum: int, frame: object) -> None:
        # Once: a second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="gymfloor-bench-") as temporary:
            folder = Path(temporary)
            if "throughput" in parts:
                throughput(folder, streams, args, setup)
            if "realtime" in parts:
                realtime(folder, streams, args, setup)
            if "latency" in parts:
                latency(folder, streams, args, setup)
    except BaseException:
        # Ctrl-C reaches the broker and ingest too, so what fails first may be a connection.
        if interrupted.is_set():
            print("interrupted; every process the bench started has been stopped", file=sys.stderr)
            raise SystemExit(130) from None
        raise
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
