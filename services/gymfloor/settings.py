"""Configuration from GYMFLOOR_* environment variables; command-line flags override it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gymfloor.api.config import ApiConfig
from gymfloor.detector import DetectorConfig
from gymfloor.ingest.alerts import AlertPolicyConfig
from gymfloor.ingest.config import IngestConfig
from gymfloor.logs import LogFormat
from gymfloor.mqtt import MqttOptions, parse_mqtt_url

ENV_PREFIX = "GYMFLOOR_"
ENV_NESTING = "__"


class EdgeConfig(BaseModel):
    gym_id: str = Field("g1", description="the gym this machine belongs to")
    machine_id: str = Field("lp-01", description="this machine's id, unique in its gym")
    batch_interval_s: float = Field(0.1, gt=0, le=10, description="seconds of samples per batch")
    outbox_max_messages: int = Field(
        200_000, ge=100, description="messages kept on disk while the broker is unreachable"
    )


class InfluxConfig(BaseModel):
    url: str | None = Field(
        None, description="InfluxDB, e.g. http://localhost:8086; unset: no time series are written"
    )
    token: SecretStr | None = Field(None, description="API token (InfluxDB 1.8: user:password)")
    org: str = Field("gymfloor", description="organisation (InfluxDB 1.8 ignores it)")
    bucket: str = Field(
        "gymfloor", description="bucket; on InfluxDB 1.8 database/retention-policy or database"
    )
    batch_lines: int = Field(5000, ge=1, le=100_000, description="points per write request")
    spool_max_bytes: int = Field(
        1024**3,
        ge=1024**2,
        description="disk kept for points InfluxDB has not taken; beyond it the oldest are dropped",
    )
    timeout_s: float = Field(10.0, gt=0, description="seconds a write request may take")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if not url:  # GYMFLOOR_INFLUX__URL= (empty, as compose files leave it) means off
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTING, extra="ignore"
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: LogFormat = Field("text", description="text for people, json for collectors")
    data_dir: Path = Field(
        Path("gymfloor-data"), description="where the store, journal and outboxes live"
    )
    db_url: str | None = Field(
        None, description="operational store (default: sqlite:///DATA_DIR/gymfloor.db)"
    )
    mqtt_url: str = Field("mqtt://localhost:1883", description="mqtt://host:port or mqtts://…")
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for mqtts (default: system)")
    mqtt_cert_file: Path | None = Field(None, description="client certificate, for mutual TLS")
    mqtt_key_file: Path | None = None
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    alerts: AlertPolicyConfig = Field(default_factory=AlertPolicyConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    influx: InfluxConfig = Field(default_factory=InfluxConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, url: str) -> str:
        parse_mqtt_url(url)
        return url

    @property
    def store_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'gymfloor.db'}"

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


def detector_env_var(field: str) -> str:
    return f"{ENV_PREFIX}DETECTOR{ENV_NESTING}{field.upper()}"
