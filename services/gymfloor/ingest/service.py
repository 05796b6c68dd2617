"""`gymfloor ingest`: the pipeline on a live intake, with its lifecycle and timers.

Threads: the intake's own (paho's network thread for MQTT) receives and keeps each message; this
service's thread takes them in batches, runs the pipeline and publishes what it returns; the
committer's thread (`checkpoint.py`) writes the store and the time-series spool and commits
checkpoints. The pipeline runs on one thread only, so it needs no lock.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gymfloor.detector import DetectorConfig, warm_up
from gymfloor.ingest.checkpoint import Checkpoint, Committer
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.intake import Intake, Message
from gymfloor.ingest.pipeline import Outgoing
from gymfloor.ingest.recovery import fresh_pipeline, replay, restored_pipeline
from gymfloor.status import IngestCounter, IngestHealth, LatencyHistogram

log = logging.getLogger("gymfloor.ingest")

GIL_SWITCH_INTERVAL_S = 0.0005

BATCH = 512
"""Messages taken from the intake at a time: one hand-over between threads for all of them."""


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None: ...


@dataclass(slots=True)
class _Timers:
    flush: float = 0.0
    checkpoint: float = 0.0
    sweep: float = 0.0
    stats: float = 0.0


class IngestService:
    def __init__(
        self,
        intake: Intake,
        publisher: Publisher,
        committer: Committer,
        config: IngestConfig | None = None,
        detector_config: DetectorConfig | None = None,
        policy_config: AlertPolicyConfig | None = None,
    ) -> None:
        self.config = config or IngestConfig()
        self.intake = intake
        self.publisher = publisher
        self.committer = committer
        self.detector_config = detector_config or DetectorConfig()
        self.policy_config = policy_config or AlertPolicyConfig()
        self.internal_errors = 0
        self.latency = LatencyHistogram()
        self._latency_reported = LatencyHistogram()
        self.started_at = time.time()
        warm_up()
        # A fresh pipeline, until `run` restores the last checkpoint's.
        self.pipeline = fresh_pipeline(self.detector_config, self.policy_config, trace_hz=None)

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Recover, then serve until `stopping` is set; then finish what was received, save
        everything and return."""
        self.committer.start()
        self.pipeline, position = restored_pipeline(
            self.committer.checkpoints,
            self.detector_config,
            self.policy_config,
            self.config.trace_hz,
        )
        replay(self.intake, position, self._process)
        self._checkpoint()
        # Start-up's objects (numba's compiler alone leaves over 100,000) live as long as the
        # process: frozen, the collector's full passes stop walking them. Those passes held the
        # floor up to 120-180 ms at a time at 1000 machines (feedback p99 120 ms; 33 frozen).
        gc.freeze()
        # Three threads share one interpreter lock; the committer's writes (a second of trace
        # for every machine at once) held it for up to the default 5 ms a turn, many turns in a
        # row. Shorter turns let a batch through sooner (feedback p99 at 1000 machines: 33-42 ms
        # at 5 ms, 23.5 at 0.5 ms; bench/pipeline.py --parts latency).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self.intake.start()
        timers = _Timers()
        try:
            while not stopping.is_set():
                batch = self.intake.take(BATCH, timeout=0.05)
                if batch:
                    self._process(batch, True)
                self._periodic(timers, time.monotonic())
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        log.info("stopping: finishing %d queued messages", self.intake.health().queued)
        self.intake.stop()
        while batch := self.intake.take(BATCH, timeout=0):
            self._process(batch, True)
        # A snapshot is kept consistent only until the next is taken, so the last checkpoint
        # waits for the one on its way; the intake keeps what it would have covered.
        if self.committer.wait_idle(timeout=60.0):
            self._checkpoint()
        else:
            log.error("a checkpoint is still being written; stopping without a last one")
        self._report_status()
        self.committer.stop()
        self.intake.close()
        self._log_stats("stopped")

    # -- the service's thread ------------------------------------------------------------------

    def _process(self, batch: Sequence[Message], live: bool) -> None:
        counters = self.pipeline.counters
        for message in batch:
            answers = counters.feedback + counters.reports
            try:
                outgoing = self.pipeline.handle(
                    message.topic, message.payload, message.received_at, live
                )
            except Exception:  # a bug met by one message must not take the floor down with it
                self.internal_errors += 1
                log.exception("could not process a message", extra={"topic": message.topic})
                continue
            self._publish(outgoing)
            if live and counters.feedback + counters.reports > answers:
                self.latency.observe(time.time() - message.received_at)

    def _publish(self, outgoing: list[Outgoing]) -> None:
        for out in outgoing:
            self.publisher.publish(out.topic, out.payload)

    def _periodic(self, timers: _Timers, now: float) -> None:
        c = self.config
        if now - timers.sweep >= c.sweep_interval_s:
            timers.sweep = now
            self._publish(self.pipeline.sweep())
        if now - timers.checkpoint >= c.checkpoint_interval_s and not self.committer.busy:
            timers.checkpoint = timers.flush = now
            self._checkpoint()
            self._report_status()
        elif now - timers.flush >= c.flush_interval_s:
            timers.flush = now
            self.committer.changes(self.pipeline.take_changes())
        if now - timers.stats >= c.stats_interval_s:
            timers.stats = now
            self._log_stats("running")

    def _checkpoint(self) -> None:
        """Cut the intake, process what it still holds up to the cut, and hand the committer
        the changes and then the state as of the cut (see `checkpoint.py`)."""
        position = self.intake.cut()
        while batch := self.intake.take_through(position, BATCH):
            self._process(batch, True)
        self.committer.changes(self.pipeline.take_changes())
        self.committer.checkpoint(Checkpoint(position, self.pipeline.snapshot()))

    def _report_status(self) -> None:
        window = self.latency.since(self._latency_reported)
        self._latency_reported = self.latency.model_copy(deep=True)
        intake, sink = self.intake.health(), self.committer.timeseries
        health = IngestHealth(
            counters=self._counters(),
            queued=intake.queued,
            machines=self.pipeline.detector.machine_count,
            broker_connected=intake.connected,
            detection_latency=self.latency.model_copy(deep=True),
            timeseries=None if sink is None else sink.health(),
        )
        self.committer.status(self.config.client_id, self.started_at, health, window)

    def _counters(self) -> dict[str, int]:
        p = self.pipeline.counters
        return {
            IngestCounter.MESSAGES: p.messages,
            IngestCounter.REJECTED: self.pipeline.rejects.total,
            IngestCounter.REPS: p.reports,
            IngestCounter.FEEDBACK: p.feedback,
            IngestCounter.ALERTS: p.alerts,
            IngestCounter.ALERTS_SUPPRESSED: self.pipeline.policy.suppressed,
            IngestCounter.DUPLICATES: self.pipeline.detector.counters.duplicates,
            IngestCounter.STORE_ERRORS: self.committer.store.health().errors,
            IngestCounter.JOURNAL_ERRORS: self.intake.health().errors,
            IngestCounter.INTERNAL_ERRORS: self.internal_errors,
        }

    def _log_stats(self, phase: str) -> None:
        extra = {
            **self._counters(),
            "machines": self.pipeline.detector.machine_count,
            "queued": self.intake.health().queued,
            "store_unsaved": self.committer.store.health().unsaved,
        }
        log.info("ingest %s", phase, extra=extra)
