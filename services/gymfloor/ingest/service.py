"""`gymfloor ingest` on an MQTT broker: one task (`task.py`) on a live intake, and its lifecycle.

Threads: the intake's own (paho's network thread for MQTT) receives and keeps each message; this
service's thread takes them in batches, runs the pipeline and publishes what it returns; the
committer's thread (`checkpoint.py`) writes the store and the time-series spool and commits
checkpoints. The pipeline runs on one thread only, so it needs no lock.
"""

from __future__ import annotations

import gc
import sys
import threading
import time

from gymfloor.detector import DetectorConfig, warm_up
from gymfloor.ingest.checkpoint import Committer
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.intake import Intake
from gymfloor.ingest.task import BATCH, IngestTask, Publisher

GIL_SWITCH_INTERVAL_S = 0.0005


def settle_runtime() -> None:
    """Once start-up is over, before serving the floor."""
    # Start-up's objects (numba's compiler alone leaves over 100,000) live as long as the
    # process: frozen, the collector's full passes stop walking them. Those passes held the
    # floor up to 120-180 ms at a time at 1000 machines (feedback p99 120 ms; 33 frozen).
    gc.freeze()
    # Several threads share one interpreter lock; the committer's writes (a second of trace
    # for every machine at once) held it for up to the default 5 ms a turn, many turns in a
    # row. Shorter turns let a batch through sooner (feedback p99 at 1000 machines: 33-42 ms
    # at 5 ms, 23.5 at 0.5 ms; bench/pipeline.py --parts latency).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


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
        warm_up()
        self.intake = intake
        self.task = IngestTask(
            intake,
            publisher,
            committer,
            config or IngestConfig(),
            detector_config or DetectorConfig(),
            policy_config or AlertPolicyConfig(),
        )

    def run(self, stopping: threading.Event) -> None:
        """Recover, then serve until `stopping` is set; then finish what was received, save
        everything and return."""
        self.task.recover()
        settle_runtime()
        self.intake.start()
        try:
            while not stopping.is_set():
                batch = self.intake.take(BATCH, timeout=0.05)
                if batch:
                    self.task.process(batch, True)
                self.task.tick(time.monotonic())
        finally:
            self.task.finish()
