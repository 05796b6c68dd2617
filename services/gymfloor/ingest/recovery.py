"""Start where the last run stopped: the last checkpoint's state, then what came after it.

Replayed messages go through the pipeline as live ones do, but publish nothing (the world has
moved on); what they produce goes to the store, which keeps the first of each report and alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gymfloor.detector import Detector, DetectorConfig
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.checkpoint import CheckpointStore
from gymfloor.ingest.config import AlertPolicyConfig
from gymfloor.ingest.intake import Intake, Message
from gymfloor.ingest.pipeline import Pipeline

log = logging.getLogger("gymfloor.ingest")

REPLAY_BATCH = 1000


def fresh_pipeline(
    detector_config: DetectorConfig, policy_config: AlertPolicyConfig, trace_hz: float | None
) -> Pipeline:
    return Pipeline(Detector(detector_config), AlertPolicy(policy_config), trace_hz=trace_hz)


def restored_pipeline(
    checkpoints: CheckpointStore,
    detector_config: DetectorConfig,
    policy_config: AlertPolicyConfig,
    trace_hz: float,
) -> tuple[Pipeline, int | None]:
    """The pipeline as of the last checkpoint (new if there is none), and its position."""
    checkpoint = checkpoints.load()
    if checkpoint is None:
        return fresh_pipeline(detector_config, policy_config, trace_hz), None
    restored = Pipeline.restore(checkpoint.state, detector_config, policy_config, trace_hz)
    return restored, checkpoint.position


def replay(
    intake: Intake, after: int | None, process: Callable[[Sequence[Message], bool], None]
) -> None:
    """Feed `process` what the intake received after position `after`, in batches, as not
    live."""
    replayed = 0
    batch: list[Message] = []
    for message in intake.replay(after):
        batch.append(message)
        if len(batch) == REPLAY_BATCH:
            process(batch, False)
            replayed += len(batch)
            batch = []
    process(batch, False)
    replayed += len(batch)
    if replayed:
        log.info("recovered %d journalled messages since the last checkpoint", replayed)
