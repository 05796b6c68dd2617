"""Configuration from GYMFLOOR_* environment variables; command-line flags override it."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gymfloor.detector import DetectorConfig
from gymfloor.logs import LogFormat

ENV_PREFIX = "GYMFLOOR_"
ENV_NESTING = "__"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTING, extra="ignore"
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: LogFormat = Field("text", description="text for people, json for collectors")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)


def detector_env_var(field: str) -> str:
    return f"{ENV_PREFIX}DETECTOR{ENV_NESTING}{field.upper()}"
