"""`gymfloor ingest` on NATS JetStream: one worker among any number sharing the partitions.

Each partition this worker holds is a task of its own (`IngestTask`, as on a single MQTT
broker): its own pipeline, committer and checkpoint, on the partition's intake. One thread
serves every task in turn, as the single MQTT service's thread serves its one; it also balances:
it bids for partitions while the worker holds fewer than its fair share, and hands one over
while it holds more.

    pinned (loop thread)      → a recovery thread claims the checkpoint, restores and replays,
                                then hands the task to the serving thread
    unpinned (loop thread)    → the task is finished on a thread of its own; its last
                                checkpoint is refused (fenced)
    over its share            → the same, then the pin is handed over at once
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gymfloor.detector import DetectorConfig, warm_up
from gymfloor.ingest.checkpoint import Committer
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.jetstream.checkpoints import PartitionCheckpoints
from gymfloor.ingest.jetstream.client import NatsLoop
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.ingest.jetstream.intake import PartitionIntake
from gymfloor.ingest.jetstream.membership import Membership
from gymfloor.ingest.jetstream.publisher import MqttPublisher
from gymfloor.ingest.jetstream.pulls import Delivered, PinnedPuller
from gymfloor.ingest.jetstream.reader import read_all
from gymfloor.ingest.jetstream.topology import declare
from gymfloor.ingest.service import settle_runtime
from gymfloor.ingest.sinks import StoreSink
from gymfloor.ingest.task import BATCH, IngestTask
from gymfloor.mqtt import MqttOptions
from gymfloor.storage import OperationalStore

if TYPE_CHECKING:  # influxdb-client is imported only when a sink is configured
    from gymfloor.storage.timeseries.sink import TimeSeriesSink

log = logging.getLogger("gymfloor.ingest")

IDLE_WAIT_S = 0.05
RECOVERY_RETRY_MAX_S = 10.0
BALANCE_INTERVAL_S = 0.5
SETTLE_S = 3.0
"""How long the share must stay exceeded before a partition is handed over: workers starting
together see each other only after a heartbeat or two."""


@dataclass(slots=True)
class _Held:
    partition: int
    intake: PartitionIntake
    task: IngestTask | None = None
    lost: threading.Event = field(default_factory=threading.Event)
    """Another worker holds the partition now: nothing more of it is served here."""
    finished: threading.Event = field(default_factory=threading.Event)


class PartitionedIngest:
    def __init__(
        self,
        nats_config: NatsConfig,
        mqtt_options: MqttOptions,
        store: OperationalStore,
        timeseries: TimeSeriesSink | None,
        config: IngestConfig,
        detector_config: DetectorConfig,
        policy_config: AlertPolicyConfig,
    ) -> None:
        self.nats_config = nats_config
        self.worker = f"{config.client_id}-{socket.gethostname()}-{os.getpid()}"
        self.nats = NatsLoop(nats_config, self.worker)
        self.publisher = MqttPublisher(mqtt_options, f"{self.worker}-out")
        self.membership = Membership(self.nats, self.worker, nats_config.heartbeat_s)
        self._store = store
        self._timeseries = timeseries
        self._config = config
        self._detector_config = detector_config
        self._policy_config = policy_config
        self._held: dict[int, _Held] = {}  # pinned to this worker, being recovered or served
        self._serving: dict[int, _Held] = {}  # the serving thread's own
        self._recovered: queue.SimpleQueue[_Held] = queue.SimpleQueue()
        self._arrived = threading.Event()  # messages were delivered, or a task recovered
        self._pullers: list[PinnedPuller] = []
        self._over_share_since: float | None = None

    def run(self, stopping: threading.Event) -> None:
        warm_up()
        self.publisher.start()
        self.nats.connect(stopping)
        self.nats.run(declare(self.nats.client, self.nats_config), timeout=60.0)
        self.nats.spawn(self.membership.run())
        for partition in range(self.nats_config.partitions):
            puller = self._puller(partition)
            self._pullers.append(puller)
            self.nats.spawn(puller.run())
        settle_runtime()
        log.info("worker %s sharing %d partitions", self.worker, self.nats_config.partitions)
        balanced = 0.0
        try:
            while not stopping.is_set():
                now = time.monotonic()
                self._serve(now)
                if now - balanced >= BALANCE_INTERVAL_S:
                    balanced = now
                    self._balance(now)
        finally:
            self._shutdown()

    # -- the loop's thread: what the pullers report ------------------------------------------

    def _puller(self, partition: int) -> PinnedPuller:
        stream = self.nats_config.stream

        async def read_range(first: int, last: int) -> list[Delivered]:
            return await read_all(self.nats.jetstream, stream, partition, first, last)

        return PinnedPuller(
            self.nats.client,
            stream,
            partition,
            read_range,
            on_pinned=lambda first: self._pinned(partition, first),
            on_messages=lambda batch: self._deliver(partition, batch),
            on_unpinned=lambda: self._unpinned(partition),
            room=lambda: self._room(partition),
        )

    def _pinned(self, partition: int, first: int) -> None:
        intake = PartitionIntake(self.nats, self.nats_config.stream, partition, first)
        held = self._held[partition] = _Held(partition, intake)
        threading.Thread(
            target=self._recover, args=(held,), name=f"recover-p{partition}", daemon=True
        ).start()

    def _deliver(self, partition: int, batch: list[Delivered]) -> None:
        held = self._held.get(partition)
        if held is not None and not held.lost.is_set():
            held.intake.deliver(batch)
            self._arrived.set()
        # else: a partition being handed over; its next owner reads these from the stream

    def _unpinned(self, partition: int) -> None:
        held = self._held.pop(partition, None)
        if held is not None:
            log.warning("partition %d passed to another worker", partition)
            held.lost.set()
            self._arrived.set()

    def _room(self, partition: int) -> bool:
        held = self._held.get(partition)
        return held is None or len(held.intake) < self._config.max_pending

    # -- a recovery's own thread -------------------------------------------------------------

    def _recover(self, held: _Held) -> None:
        """Take the partition over; try again for as long as the partition is still ours: while
        the cluster cannot answer (a leader election after a node died, say), or when the
        checkpoint entry changed under the claim (the former owner's last checkpoint landing).
        The pin, not the entry, says whose the partition is: a worker that lost it hears so."""
        for attempt in itertools.count():
            if held.lost.is_set():
                held.finished.set()
                return
            try:
                held.task = self._take_over(held)
            except Exception as exc:  # NATS timing out, mostly
                wait = min(RECOVERY_RETRY_MAX_S, 2.0**attempt)
                log.warning(
                    "partition %d: could not take over (%s); trying again in %.0f s",
                    held.partition,
                    exc or type(exc).__name__,
                    wait,
                )
                time.sleep(wait)
                continue
            log.info(
                "partition %d: serving from stream sequence %d",
                held.partition,
                held.intake.cut() + 1,
            )
            self._recovered.put(held)
            self._arrived.set()
            return

    def _take_over(self, held: _Held) -> IngestTask:
        """Claim the partition's checkpoint, restore it and replay the stream after it."""
        checkpoints = PartitionCheckpoints(self.nats, held.partition, self.worker)
        checkpoints.claim()
        committer = Committer(
            StoreSink(self._store, self._config.trace_retention_s),
            self._timeseries,
            checkpoints,
            held.intake.acknowledge,
        )
        config = self._config.model_copy(
            update={"client_id": f"{self._config.client_id}-p{held.partition}"}
        )
        task = IngestTask(
            held.intake,
            self.publisher,
            committer,
            config,
            self._detector_config,
            self._policy_config,
        )
        try:
            task.recover()
        except BaseException:
            committer.stop()
            raise
        return task

    # -- the serving thread ------------------------------------------------------------------

    def _serve(self, now: float) -> None:
        while not self._recovered.empty():
            held = self._recovered.get()
            self._serving[held.partition] = held
        worked = False
        for held in list(self._serving.values()):
            if held.lost.is_set():
                self._retire(held)
                continue
            assert held.task is not None
            batch = held.intake.take(BATCH, timeout=0)
            if batch:
                held.task.process(batch, True)
                worked = True
            held.task.tick(now)
        if not worked:
            self._arrived.wait(IDLE_WAIT_S)
            self._arrived.clear()

    def _retire(self, held: _Held, then_release: bool = False) -> None:
        """Stop serving the partition; finish its task on a thread of its own (the last
        checkpoint may take a while), then, if asked, hand the pin over."""
        self._serving.pop(held.partition, None)

        def finish() -> None:
            try:
                if held.task is not None:
                    held.task.finish()
            except Exception:
                log.exception("partition %d did not finish cleanly", held.partition)
            finally:
                if then_release:
                    self.nats.run(self._pullers[held.partition].release())
                held.finished.set()

        threading.Thread(target=finish, name=f"finish-p{held.partition}", daemon=True).start()

    def _balance(self, now: float) -> None:
        held = len(self._held)
        share = self.membership.fair_share(self.nats_config.partitions)
        for puller in self._pullers:
            puller.bidding = held < share
        if held <= share:
            self._over_share_since = None
        elif self._over_share_since is None:
            self._over_share_since = now
        elif now - self._over_share_since >= SETTLE_S and self._serving:
            self._over_share_since = None
            self._hand_over(max(self._serving))

    def _hand_over(self, partition: int) -> _Held:
        log.info("handing partition %d over", partition)
        self._pullers[partition].pause()
        held = self._serving[partition]
        self._held.pop(partition, None)
        held.lost.set()
        self._retire(held, then_release=True)
        return held

    def _shutdown(self) -> None:
        log.info("stopping: handing over %d partitions", len(self._serving))
        for puller in self._pullers:
            puller.pause()
        handed = [self._hand_over(partition) for partition in list(self._serving)]
        for held in handed:
            held.finished.wait(90.0)
        try:
            self.nats.run(self.membership.leave())
        except Exception as exc:
            log.warning("could not leave the membership: %s", exc)
        self.nats.close()
        self.publisher.stop()
        log.info("worker %s stopped", self.worker)
