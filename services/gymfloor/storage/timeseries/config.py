"""Settings of the time-series sink, apart from the sink so that reading them is cheap."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from gymfloor.redact import redact


class InfluxConfig(BaseModel):
    url: str | None = Field(
        None, description="InfluxDB, e.g. http://localhost:8086; unset: no time series are written"
    )
    token: SecretStr | None = Field(None, description="API token (InfluxDB 1.8: user:password)")
    token_file: Path | None = Field(
        None,
        description="a file holding the API token, as `gymfloor timeseries tokens` writes it; "
        "instead of TOKEN",
    )
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
            raise ValueError(f"{redact(url)!r} is not an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _token_from_file(self) -> InfluxConfig:
        if self.token_file is None:
            return self
        if self.token is not None:
            raise ValueError("set the token or the token file, not both")
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:  # the path, never what the file holds
            raise ValueError(
                f"cannot read the token file {self.token_file}: {exc.strerror}"
            ) from None
        if not token:
            raise ValueError(f"the token file {self.token_file} is empty")
        self.token = SecretStr(token)
        return self
