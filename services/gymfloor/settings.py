"""Configuration from GYMFLOOR_* environment variables; command-line flags override it.

Each component keeps its own settings next to it (`detector/config.py`, `mqtt/config.py`,
`storage/timeseries/config.py`, `gymfloor_edge/config.py`, …); this module only assembles them
under one prefix, most in a section of their own: GYMFLOOR_DETECTOR__LIFTOFF_RATIO is
`Settings().detector.liftoff_ratio`. It belongs to the top layer (the command, the wiring, the
demo): components are handed their own settings and never import this module.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gymfloor.api.config import ApiConfig
from gymfloor.detector.config import DetectorConfig
from gymfloor.ingest.config import AlertPolicyConfig, IngestConfig
from gymfloor.ingest.jetstream.config import NatsConfig, parse_servers
from gymfloor.logs import LogFormat
from gymfloor.mqtt.config import MqttOptions, parse_mqtt_url
from gymfloor.settings_names import (
    ENV_NESTING,
    ENV_PREFIX,
    SHOWN_DEFAULT,
    env_var,
    known_level,
)
from gymfloor.storage.timeseries.config import InfluxConfig
from gymfloor.webhooks.config import WebhookConfig
from gymfloor_edge.config import EdgeConfig

__all__ = ["ENV_NESTING", "ENV_PREFIX", "Settings", "env_var"]

STORE_FILE = "gymfloor.db"
"""The SQLite store's file in the data directory, unless GYMFLOOR_DB_URL names a store."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTING,
        extra="ignore",
        # A wrong value may hold a password (a URL's); the messages name the setting instead.
        hide_input_in_errors=True,
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: LogFormat = Field("text", description="text for people, json for collectors")
    data_dir: Path = Field(
        Path("gymfloor-data"), description="where the store, journal and outboxes live"
    )
    db_url: str | None = Field(
        None,
        description="operational store (default: a SQLite file in the data directory)",
        json_schema_extra={SHOWN_DEFAULT: f"sqlite:///DATA_DIR/{STORE_FILE}"},
    )
    mqtt_url: str = Field("mqtt://localhost:1883", description="mqtt://host:port or mqtts://…")
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for mqtts (default: system)")
    mqtt_cert_file: Path | None = Field(None, description="client certificate, for mutual TLS")
    mqtt_key_file: Path | None = None
    nats_url: str | None = Field(
        None,
        description="nats://host:port[,nats://…] of a NATS cluster: ingest then shares the "
        "partitions of a JetStream stream with other workers (docs/SCALING.md)",
    )
    nats_partitions: int = Field(16, ge=1, le=1024, description="partitions of the stream")
    nats_replicas: int = Field(1, ge=1, le=5, description="copies of the stream (3 on 3 nodes)")
    nats_retention_s: float = Field(
        86_400.0, gt=60, description="longest the stream keeps what no checkpoint covers yet"
    )
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    alerts: AlertPolicyConfig = Field(default_factory=AlertPolicyConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    influx: InfluxConfig = Field(default_factory=InfluxConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        return known_level(level)

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, url: str) -> str:
        parse_mqtt_url(url)
        return url

    @field_validator("nats_url")
    @classmethod
    def _valid_nats_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_servers(url)
        return url

    @property
    def nats(self) -> NatsConfig | None:
        """Partitioned ingest's settings, if a NATS URL is given."""
        if self.nats_url is None:
            return None
        return NatsConfig(
            servers=parse_servers(self.nats_url),
            partitions=self.nats_partitions,
            replicas=self.nats_replicas,
            retention_s=self.nats_retention_s,
            user=self.nats_user,
            password=self.nats_password.get_secret_value() if self.nats_password else None,
        )

    @property
    def store_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / STORE_FILE}"

    @property
    def mqtt(self) -> MqttOptions:
        return MqttOptions(
            url=self.mqtt_url,
            username=self.mqtt_username,
            password=self.mqtt_password.get_secret_value() if self.mqtt_password else None,
            ca_file=self.mqtt_ca_file,
            cert_file=self.mqtt_cert_file,
            key_file=self.mqtt_key_file,
        )
