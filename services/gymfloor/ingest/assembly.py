"""An ingest service put together from its parts, for each kind of intake."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gymfloor.detector import DetectorConfig
from gymfloor.ingest.checkpoint import CheckpointFile, Committer
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.mqtt_intake import MqttIntake
from gymfloor.ingest.service import IngestService
from gymfloor.ingest.sinks import StoreSink
from gymfloor.mqtt import MqttOptions
from gymfloor.storage import OperationalStore

if TYPE_CHECKING:  # influxdb-client is imported only when a sink is configured
    from gymfloor.storage.timeseries.sink import TimeSeriesSink


def mqtt_ingest(
    mqtt_options: MqttOptions,
    store: OperationalStore,
    journal_dir: Path,
    config: IngestConfig,
    detector_config: DetectorConfig,
    policy_config: AlertPolicyConfig,
    timeseries: TimeSeriesSink | None = None,
) -> IngestService:
    """Ingest from an MQTT broker, journalling locally; checkpoints beside the journal."""
    intake = MqttIntake(mqtt_options, config.client_id, journal_dir, config.max_pending)
    committer = Committer(
        StoreSink(store, config.trace_retention_s),
        timeseries,
        CheckpointFile(journal_dir),
        intake.acknowledge,
    )
    return IngestService(intake, intake, committer, config, detector_config, policy_config)
