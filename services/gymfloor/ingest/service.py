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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from gymfloor.storage.models import IngestHealth, LatencyHistogram, TimeseriesHealth

if TYPE_CHECKING:  # influxdb-client is imported only when a sink is configured
    from gymfloor.storage.timeseries import TimeSeriesSink

log = logging.getLogger("gymfloor.ingest")

TIMESERIES_DRAIN_S = 5.0
"""On a stop, how long the time-series sender may go on sending; the rest waits in its spool."""


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    received_at: float


TRACE_WRITE_INTERVAL_S = 1.0
"""How often the trace goes to the store: the board reads it every 2 s."""


@dataclass(slots=True)
class _Timers:
    flush: float = 0.0
    trace: float = 0.0
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
        timeseries: TimeSeriesSink | None = None,
    ) -> None:
        self.config = config or IngestConfig()
        self.store = store
        self.timeseries = timeseries
        self.health = ServiceHealth()
        self.latency = LatencyHistogram()
        self._latency_at_last_point = LatencyHistogram()
        self.started_at = time.time()
        self._unsaved = Changes()
        self._stopping = threading.Event()
        detector_config = detector_config or DetectorConfig()
        policy_config = policy_config or AlertPolicyConfig()
        warm_up()
        self.journal = Journal(journal_dir)
        checkpoint = self.journal.load_checkpoint()
        trace_hz = self.config.trace_hz
        if checkpoint is None:
            self.pipeline = Pipeline(
                Detector(detector_config), AlertPolicy(policy_config), trace_hz=trace_hz
            )
        else:
            self.pipeline = Pipeline.restore(
                checkpoint.state, detector_config, policy_config, trace_hz
            )
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
        if self.timeseries is not None:
            self.timeseries.start()
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
        if self.timeseries is not None:
            self.timeseries.stop(TIMESERIES_DRAIN_S)
        self._report_status(connected=False)
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
        counters = self.pipeline.counters
        answers = counters.feedback + counters.reports
        for out in self._handle(message, live=True):
            self._client.publish(out.topic, out.payload, qos=1)
        if counters.feedback + counters.reports > answers:
            self.latency.observe(time.time() - message.received_at)

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
            timers.checkpoint = timers.flush = timers.trace = now
            self._checkpoint()
            self._report_status(self._client.is_connected())
        elif now - timers.flush >= c.flush_interval_s:
            timers.flush = now
            with_trace = now - timers.trace >= TRACE_WRITE_INTERVAL_S
            if with_trace:
                timers.trace = now
            self._flush(with_trace)
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
        flushed = self._flush(with_trace=True)
        if self.timeseries is not None:
            self.timeseries.record_ingest(
                {
                    **self._counters(),
                    "queued": len(self._lanes),
                    "spool_backlog": self.timeseries.backlog_points,
                    **self._latency_since_last_point(),
                }
            )
            # The checkpoint lets the journal go, so what it derived must be on disk first.
            self.timeseries.sync()
        if flushed:
            self.journal.save_checkpoint(Checkpoint(closed + 1, self.pipeline.snapshot()))

    def _latency_since_last_point(self) -> dict[str, float]:
        """Detection latency over the last checkpoint interval, for the pipeline dashboard: the
        median and the 99th percentile, each to its histogram bucket's bound."""
        window = self.latency.since(self._latency_at_last_point)
        self._latency_at_last_point = self.latency.model_copy(deep=True)
        quantiles = {"p50": window.quantile(0.5), "p99": window.quantile(0.99)}
        return {
            f"detection_latency_{name}_s": value
            for name, value in quantiles.items()
            if value is not None
        }

    def _flush(self, with_trace: bool) -> bool:
        """Write what the pipeline produced. If the store fails, keep it for the next try; the
        journal keeps every message since the last checkpoint meanwhile. The trace waits for
        `with_trace`, to go to the store in chunks of a second per machine rather than a few
        samples: the rows, not the samples, cost (bench/sink_cost.py)."""
        fresh = self.pipeline.take_changes()
        if self.timeseries is not None:
            # Spooled as they are produced, not once stored: changes the store failed to take
            # wait in `_unsaved` and go to the store again, and spooling them there would spool
            # them again with every retry. The spool thus gets each once whatever the store
            # does; only a journal replay after a crash derives (and spools) some again, which
            # InfluxDB absorbs, identical points overwriting each other.
            self.timeseries.append(fresh)
        self._unsaved.absorb(fresh)
        writing = self._unsaved if with_trace else replace(self._unsaved, trace=[])
        if not writing:
            return True
        try:
            self.store.write(writing, keep_trace_s=self.config.trace_retention_s)
        except SQLAlchemyError as exc:
            self.health.store_errors += 1
            self._unsaved.forget_trace_older_than(self.config.trace_retention_s)
            log.error("cannot write the store (%s); keeping %s to retry", exc, self._unsaved)
            return False
        self._unsaved = Changes(trace=[] if with_trace else self._unsaved.trace)
        return True

    def _report_status(self, connected: bool) -> None:
        """Tell the store how ingest is doing; the API serves it as /metrics and /readyz."""
        sink = self.timeseries
        health = IngestHealth(
            counters=self._counters(),
            queued=len(self._lanes),
            machines=self.pipeline.detector.machine_count,
            broker_connected=connected,
            detection_latency=self.latency,
            timeseries=None
            if sink is None
            else TimeseriesHealth(
                reachable=sink.reachable,
                backlog_points=sink.backlog_points,
                points_written=sink.points_written,
                write_errors=sink.write_errors,
                writes_refused=sink.writes_refused,
                points_dropped=sink.points_dropped,
                spool_errors=sink.spool_errors,
                last_error=sink.last_error,
            ),
        )
        try:
            self.store.report_status(self.config.client_id, self.started_at, health)
        except SQLAlchemyError as exc:
            self.health.store_errors += 1
            log.error("cannot write ingest's status to the store (%s)", exc)

    def _counters(self) -> dict[str, int]:
        p = self.pipeline.counters
        return {
            "messages": p.messages,
            "rejected": self.pipeline.rejects.total,
            "reps": p.reports,
            "feedback": p.feedback,
            "alerts": p.alerts,
            "alerts_suppressed": self.pipeline.policy.suppressed,
            "duplicates": self.pipeline.detector.counters.duplicates,
            "store_errors": self.health.store_errors,
            "journal_errors": self.health.journal_errors,
            "internal_errors": self.health.internal_errors,
        }

    def _log_stats(self, phase: str) -> None:
        extra = {
            **self._counters(),
            "machines": self.pipeline.detector.machine_count,
            "queued": len(self._lanes),
        }
        log.info("ingest %s", phase, extra=extra)


def _log_subscribed(
    client: mqtt.Client, userdata: object, mid: int, reasons: list[Any], properties: object
) -> None:
    refused = [r for r in reasons if r.is_failure]
    if refused:
        log.error("the broker refused %d of the subscriptions: %s", len(refused), refused[0])
    else:
        log.info("subscribed to the telemetry, session and status of every machine")
