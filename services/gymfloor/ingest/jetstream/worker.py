"""`gymfloor ingest` on NATS JetStream: one worker among any number sharing the partitions.

Each partition this worker holds runs as an ingest service of its own (`IngestService`, the
same as on a single MQTT broker): its own pipeline, committer and checkpoint, on the
partition's intake. The worker's own thread watches the membership and balances: it bids for
partitions while it holds fewer than its fair share, and hands one over while it holds more.

    pinned (loop thread)    → a service starts: claims the checkpoint, restores, replays, runs
    unpinned (loop thread)  → its service stops; its last checkpoint is refused (fenced)
    over its share          → a service stops cleanly, then the pin is handed over at once
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gymfloor.detector import DetectorConfig
from gymfloor.ingest.checkpoint import Committer
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.jetstream.checkpoints import PartitionCheckpoints, PartitionLost
from gymfloor.ingest.jetstream.client import NatsLoop
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.ingest.jetstream.intake import PartitionIntake
from gymfloor.ingest.jetstream.membership import Membership
from gymfloor.ingest.jetstream.publisher import MqttPublisher
from gymfloor.ingest.jetstream.pulls import Delivered, PinnedPuller
from gymfloor.ingest.jetstream.reader import read_all
from gymfloor.ingest.jetstream.topology import declare
from gymfloor.ingest.service import IngestService
from gymfloor.ingest.sinks import StoreSink
from gymfloor.mqtt import MqttOptions
from gymfloor.storage import OperationalStore

if TYPE_CHECKING:  # influxdb-client is imported only when a sink is configured
    from gymfloor.storage.timeseries.sink import TimeSeriesSink

log = logging.getLogger("gymfloor.ingest")

BALANCE_INTERVAL_S = 0.5
SETTLE_S = 3.0
"""How long the share must stay exceeded before a partition is handed over: workers starting
together see each other only after a heartbeat or two."""


@dataclass(slots=True)
class _Held:
    intake: PartitionIntake
    service: IngestService | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


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
        self._store = store
        self._timeseries = timeseries
        self._config = config
        self._detector_config = detector_config
        self._policy_config = policy_config
        self._held: dict[int, _Held] = {}
        self._lock = threading.Lock()  # _held, between the loop's thread and this one
        self._pullers: list[PinnedPuller] = []
        self.membership = Membership(self.nats, self.worker, nats_config.heartbeat_s)
        self._over_share_since: float | None = None

    def run(self, stopping: threading.Event) -> None:
        self.publisher.start()
        self.nats.connect()
        self.nats.run(declare(self.nats.client, self.nats_config), timeout=60.0)
        self.nats.spawn(self.membership.run())
        for partition in range(self.nats_config.partitions):
            puller = self._puller(partition)
            self._pullers.append(puller)
            self.nats.spawn(puller.run())
        log.info("worker %s sharing %d partitions", self.worker, self.nats_config.partitions)
        try:
            while not stopping.wait(BALANCE_INTERVAL_S):
                self._balance()
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
        held = _Held(PartitionIntake(self.nats, self.nats_config.stream, partition, first))
        with self._lock:
            self._held[partition] = held
        held.thread = threading.Thread(
            target=self._serve, args=(partition, held), name=f"ingest-p{partition}", daemon=True
        )
        held.thread.start()

    def _deliver(self, partition: int, batch: list[Delivered]) -> None:
        held = self._held.get(partition)
        if held is not None and not held.stopping.is_set():
            held.intake.deliver(batch)
        # else: a partition being handed over; its next owner reads these from the stream

    def _unpinned(self, partition: int) -> None:
        log.warning("partition %d passed to another worker", partition)
        with self._lock:
            held = self._held.get(partition)
        if held is not None:
            held.stopping.set()

    def _room(self, partition: int) -> bool:
        held = self._held.get(partition)
        return held is None or len(held.intake) < self._config.max_pending

    # -- a partition's own thread ------------------------------------------------------------

    def _serve(self, partition: int, held: _Held) -> None:
        checkpoints = PartitionCheckpoints(self.nats, partition, self.worker)
        try:
            checkpoints.claim()
        except PartitionLost as exc:
            log.warning("%s", exc)
            return
        committer = Committer(
            StoreSink(self._store, self._config.trace_retention_s),
            self._timeseries,
            checkpoints,
            held.intake.acknowledge,
        )
        config = self._config.model_copy(
            update={"client_id": f"{self._config.client_id}-p{partition}"}
        )
        held.service = IngestService(
            held.intake,
            self.publisher,
            committer,
            config,
            self._detector_config,
            self._policy_config,
        )
        log.info("partition %d: serving from stream sequence %d", partition, held.intake.cut() + 1)
        try:
            held.service.run(held.stopping)
        except Exception:  # the other partitions go on; this one goes to whoever bids next
            log.exception("partition %d stopped on an error; handing it over", partition)
            self.nats.run(self._pullers[partition].release())
        finally:
            with self._lock:
                if self._held.get(partition) is held:
                    del self._held[partition]

    # -- this worker's thread ----------------------------------------------------------------

    def _balance(self) -> None:
        with self._lock:
            held = len(self._held)
        share = self.membership.fair_share(self.nats_config.partitions)
        for puller in self._pullers:
            puller.bidding = held < share
        if held <= share:
            self._over_share_since = None
            return
        now = time.monotonic()
        if self._over_share_since is None:
            self._over_share_since = now
        elif now - self._over_share_since >= SETTLE_S:
            self._over_share_since = None
            self._hand_over(max(self._held))

    def _hand_over(self, partition: int) -> None:
        puller = self._pullers[partition]
        held = self._held.get(partition)
        log.info("handing partition %d over", partition)
        puller.pause()
        if held is not None:
            held.stopping.set()
            if held.thread is not None:
                held.thread.join()
        self.nats.run(puller.release())

    def _shutdown(self) -> None:
        log.info("stopping: handing over %d partitions", len(self._held))
        for puller in self._pullers:
            puller.bidding = False
        for partition in list(self._held):
            self._hand_over(partition)
        try:
            self.nats.run(self.membership.leave())
        except Exception as exc:
            log.warning("could not leave the membership: %s", exc)
        self.nats.close()
        self.publisher.stop()
        log.info("worker %s stopped", self.worker)
