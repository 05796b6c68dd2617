"""One pipeline on one intake: what a batch of messages, a tick of the timers and a checkpoint
do to it. A single MQTT ingest runs one task (`service.py`); a worker of partitioned ingest runs
one per partition it holds, all on one thread (`jetstream/worker.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from gymfloor.detector import DetectorConfig
from gymfloor.ingest.checkpoint import Checkpoint, Committer
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.intake import Intake, Message
from gymfloor.ingest.pipeline import Outgoing
from gymfloor.ingest.recovery import fresh_pipeline, replay, restored_pipeline
from gymfloor.status import IngestCounter, IngestHealth, LatencyHistogram

log = logging.getLogger("gymfloor.ingest")

BATCH = 512
"""Messages taken from the intake at a time: one hand-over between threads for all of them."""
TOP_REJECTED = 3
"""Sources the status line names, those with the most rejects since the last one."""
OFFLINE_CHECK_INTERVAL_S = 1.0
"""How often the silence of machines with a member on them is judged: well within any sensible
`offline_after_s`, and cheap (only machines in use are looked at)."""


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None: ...


@dataclass(slots=True)
class _Timers:
    flush: float = 0.0
    checkpoint: float = 0.0
    sweep: float = 0.0
    offline: float = 0.0
    stats: float = 0.0
    registry: float = 0.0


class IngestTask:
    def __init__(
        self,
        intake: Intake,
        publisher: Publisher,
        committer: Committer,
        config: IngestConfig,
        detector_config: DetectorConfig,
        policy_config: AlertPolicyConfig,
    ) -> None:
        self.config = config
        self.intake = intake
        self.publisher = publisher
        self.committer = committer
        self.detector_config = detector_config
        self.policy_config = policy_config
        self.internal_errors = 0
        self.latency = LatencyHistogram()
        self._latency_reported = LatencyHistogram()
        self.started_at = time.time()
        self._timers = _Timers()
        # A fresh pipeline, until `recover` restores the last checkpoint's.
        self.pipeline = fresh_pipeline(detector_config, policy_config, trace_hz=None)

    def recover(self) -> None:
        """Start the committer, restore the last checkpoint, replay what came after it, and
        checkpoint the result."""
        self.committer.start()
        self.pipeline, position = restored_pipeline(
            self.committer.checkpoints,
            self.detector_config,
            self.policy_config,
            self.config.trace_hz,
        )
        # A registry that cannot be read stops the start: guessing would let strangers in, or
        # turn every machine away.
        self._read_registry()
        replay(self.intake, position, self.process)
        self.pipeline.resume(time.time())
        self._checkpoint()

    def finish(self) -> None:
        """Process what the intake still holds, save everything and stop the committer."""
        log.info(
            "stopping: finishing %d queued messages",
            self.intake.health().queued,
            extra={"instance": self.config.client_id},  # one of a worker's partitions, say
        )
        self.intake.stop()
        while batch := self.intake.take(BATCH, timeout=0):
            self.process(batch, True)
        # A snapshot is kept consistent only until the next is taken, so the last checkpoint
        # waits for the one on its way; the intake keeps what it would have covered.
        if self.committer.wait_idle(timeout=60.0):
            self._checkpoint()
        else:
            log.error("a checkpoint is still being written; stopping without a last one")
        self._report_status()
        self.pipeline.rejects.flush(time.time(), everything=True)
        self.committer.stop()
        self.intake.close()
        self._log_stats("stopped")

    def process(self, batch: Sequence[Message], live: bool) -> None:
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
            if outgoing:  # never when not live
                self._publish(outgoing)
                if counters.feedback + counters.reports > answers:
                    self.latency.observe(time.time() - message.received_at)

    def tick(self, now: float) -> None:
        """The timers: idle sweeps, machines gone silent, store writes, checkpoints, held-back
        rejects, status and the machine registry."""
        c, timers = self.config, self._timers
        # Rejects carry the time they were received, on the wall clock, not `now`'s.
        self.pipeline.rejects.flush(time.time())
        if c.require_registered and now - timers.registry >= c.registry_refresh_s:
            timers.registry = now
            self._refresh_registry()
        if now - timers.sweep >= c.sweep_interval_s:
            timers.sweep = now
            self._publish(self.pipeline.sweep())
        if now - timers.offline >= OFFLINE_CHECK_INTERVAL_S:
            timers.offline = now
            # Silence has no machine time: it is judged on the wall clock, as messages are
            # stamped when received.
            self._publish(self.pipeline.check_offline(time.time()))
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

    def _read_registry(self) -> None:
        if self.config.require_registered:
            self.pipeline.registry = self.committer.store.store.registered_machines()

    def _refresh_registry(self) -> None:
        """Read the registry again; if the store fails, the last reading stands until the next
        tick, and the store's outage is logged by the writes too."""
        try:
            self._read_registry()
        except SQLAlchemyError as exc:
            log.warning("cannot read the machine registry (%s); keeping the last reading", exc)

    def _publish(self, outgoing: list[Outgoing]) -> None:
        for out in outgoing:
            self.publisher.publish(out.topic, out.payload)

    def _checkpoint(self) -> None:
        """Cut the intake, process what it still holds up to the cut, and hand the committer
        the changes and then the state as of the cut (see `checkpoint.py`)."""
        position = self.intake.cut()
        while batch := self.intake.take_through(position, BATCH):
            self.process(batch, True)
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
            IngestCounter.UNREGISTERED: p.unregistered,
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
        extra: dict[str, object] = {
            "instance": self.config.client_id,
            **self._counters(),
            "machines": self.pipeline.detector.machine_count,
            "queued": self.intake.health().queued,
            "store_unsaved": self.committer.store.health().unsaved,
        }
        if top := self.pipeline.rejects.take_top(TOP_REJECTED):
            extra["rejected_top"] = ",".join(f"{name}:{count}" for name, count in top)
        log.info("ingest %s", phase, extra=extra)
