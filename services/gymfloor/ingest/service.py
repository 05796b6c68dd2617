"""`gymfloor ingest`: the pipeline on a live broker, with a journal, a store and a clean stop.

Threads: paho's network thread receives, journals and queues each message (the broker hears
"received" only after the journal has it); the service's own thread runs the pipeline,
publishes what it returns, writes the store and takes checkpoints. The pipeline therefore
never needs a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import SQLAlchemyError

from gymfloor.contract import INGEST_CHANNELS, machine_filter
from gymfloor.detector import Detector, DetectorConfig, warm_up
from gymfloor.ingest.alerts import AlertPolicy, AlertPolicyConfig
from gymfloor.ingest.config import IngestConfig
from gymfloor.ingest.journal import Checkpoint, Journal
from gymfloor.ingest.lanes import Lanes
from gymfloor.ingest.pipeline import Outgoing, Pipeline
from gymfloor.mqtt import MqttOptions, new_client, start
from gymfloor.storage import Changes, OperationalStore

log = logging.getLogger("gymfloor.ingest")


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    received_at: float


@dataclass(slots=True)
class _Timers:
    flush: float = 0.0
    checkpoint: float = 0.0
    sweep: float = 0.0
    stats: float = 0.0


@dataclass(slots=True)
class ServiceHealth:
    """Failures the service survived; each is also logged when it happens."""

    store_errors: int = 0
    journal_errors: int = 0
    internal_errors: int = 0


class IngestService:
    def __init__(
        self,
        mqtt_options: MqttOptions,
        store: OperationalStore,
        journal_dir: Path,
        config: IngestConfig | None = None,
        detector_config: DetectorConfig | None = None,
        policy_config: AlertPolicyConfig | None = None,
    ) -> None:
        self.config = config or IngestConfig()
        self.store = store
        self.health = ServiceHealth()
        self._unsaved = Changes()
        self._stopping = threading.Event()
        detector_config = detector_config or DetectorConfig()
        policy_config = policy_config or AlertPolicyConfig()
        warm_up()
        self.journal = Journal(journal_dir)
        checkpoint = self.journal.load_checkpoint()
        if checkpoint is None:
            self.pipeline = Pipeline(Detector(detector_config), AlertPolicy(policy_config))
        else:
            self.pipeline = Pipeline.restore(checkpoint.state, detector_config, policy_config)
        self._lanes: Lanes[_Message] = Lanes()
        self._intake = threading.Lock()  # a journal segment and its queue entries change together
        self._recover(checkpoint.first_segment if checkpoint else 0)
        self._client = new_client(
            mqtt_options, self.config.client_id, persistent=True, on_connected=self._subscribe
        )
        self._client.max_inflight_messages_set(1000)
        self._client.on_message = self._receive
        self._client.on_subscribe = _log_subscribed
        self._mqtt_options = mqtt_options

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Serve until `stopping` is set, then finish what was received and save everything."""
        self._stopping = stopping
        start(self._client, self._mqtt_options)
        timers = _Timers()
        try:
            while not stopping.is_set():
                message = self._lanes.get(timeout=0.05)
                if message is not None:
                    self._process(message)
                self._periodic(timers, time.monotonic())
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        log.info("stopping: finishing %d queued messages", len(self._lanes))
        self._client.disconnect()
        self._client.loop_stop()
        while (message := self._lanes.get(timeout=0)) is not None:
            self._process(message)
        self._checkpoint()
        self.journal.close()
        self._log_stats("stopped")

    # -- network thread ------------------------------------------------------------------------

    def _subscribe(self, client: mqtt.Client, session_present: bool) -> None:
        # Subscribing again is harmless when the broker kept the session, and needed when the
        # broker lost it (restarted without persistence).
        client.subscribe([(machine_filter(channel), 1) for channel in INGEST_CHANNELS])

    def _receive(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if len(self._lanes) >= self.config.max_pending:
            # Stop reading while the pipeline catches up; the broker holds the rest meanwhile.
            while not self._lanes.wait_below(self.config.max_pending, timeout=1.0):
                if self._stopping.is_set():
                    break  # the shutdown drain takes this one
        item = _Message(message.topic, bytes(message.payload), time.time())
        # One lane per machine, whatever the channel, so that its messages stay in order. The
        # topic is checked later, in the pipeline; here its machine part is enough.
        lane = message.topic.rpartition("/")[0]
        with self._intake:
            try:
                segment = self.journal.append(item.topic, item.payload, item.received_at)
            except OSError as exc:  # a full disk must not stop the floor
                self.health.journal_errors += 1
                log.error("cannot journal a message (%s); a restart now would lose it", exc)
                segment = self.journal.segment
            self._lanes.put(lane, segment, item)

    # -- service thread ------------------------------------------------------------------------

    def _recover(self, from_segment: int) -> None:
        replayed = 0
        for entry in self.journal.replay(from_segment):
            self._handle(_Message(entry.topic, entry.payload, entry.received_at), live=False)
            replayed += 1
        if replayed:
            log.info("recovered %d journalled messages since the last checkpoint", replayed)
        self._checkpoint()

    def _process(self, message: _Message) -> None:
        for out in self._handle(message, live=True):
            self._client.publish(out.topic, out.payload, qos=1)

    def _handle(self, message: _Message, live: bool) -> list[Outgoing]:
        try:
            return self.pipeline.handle(message.topic, message.payload, message.received_at, live)
        except Exception:  # a bug met by one message must not take the floor down with it
            self.health.internal_errors += 1
            log.exception("could not process a message", extra={"topic": message.topic})
            return []

    def _periodic(self, timers: _Timers, now: float) -> None:
        c = self.config
        if now - timers.sweep >= c.sweep_interval_s:
            timers.sweep = now
            for out in self.pipeline.sweep():
                self._client.publish(out.topic, out.payload, qos=1)
        if now - timers.checkpoint >= c.checkpoint_interval_s:
            timers.checkpoint = timers.flush = now
            self._checkpoint()
        elif now - timers.flush >= c.flush_interval_s:
            timers.flush = now
            self._flush()
        if now - timers.stats >= c.stats_interval_s:
            timers.stats = now
            self._log_stats("running")

    def _checkpoint(self) -> None:
        """Save the pipeline's state as of the end of the current journal segment, once every
        output derived up to there is in the store. Should the process die between the two,
        the replay derives some outputs again, and the store keeps the first of each."""
        with self._intake:
            closed = self.journal.rotate()
        while (message := self._lanes.get(timeout=0, up_to_segment=closed)) is not None:
            self._process(message)
        if self._flush():
            self.journal.save_checkpoint(Checkpoint(closed + 1, self.pipeline.snapshot()))

    def _flush(self) -> bool:
        """Write what the pipeline produced. If the store fails, keep it for the next try; the
        journal keeps every message since the last checkpoint meanwhile."""
        self._unsaved.absorb(self.pipeline.take_changes())
        if not self._unsaved:
            return True
        try:
            self.store.write(self._unsaved)
        except SQLAlchemyError as exc:
            self.health.store_errors += 1
            log.error("cannot write the store (%s); keeping %s to retry", exc, self._unsaved)
            return False
        self._unsaved = Changes()
        return True

    def _log_stats(self, phase: str) -> None:
        d, p = self.pipeline.detector.counters, self.pipeline.counters
        log.info(
            "ingest %s",
            phase,
            extra={
                "messages": p.messages,
                "rejected": self.pipeline.rejects.total,
                "reps": p.reports,
                "feedback": p.feedback,
                "alerts": p.alerts,
                "alerts_suppressed": self.pipeline.policy.suppressed,
                "duplicates": d.duplicates,
                "machines": self.pipeline.detector.machine_count,
                "queued": len(self._lanes),
                "store_errors": self.health.store_errors,
                "journal_errors": self.health.journal_errors,
                "internal_errors": self.health.internal_errors,
            },
        )


def _log_subscribed(
    client: mqtt.Client, userdata: object, mid: int, reasons: list[Any], properties: object
) -> None:
    refused = [r for r in reasons if r.is_failure]
    if refused:
        log.error("the broker refused %d of the subscriptions: %s", len(refused), refused[0])
    else:
        log.info("subscribed to the telemetry, session and status of every machine")
