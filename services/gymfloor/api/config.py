"""Settings of the API server, apart from the server so that reading them is cheap."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ApiConfig(BaseModel):
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0 for every one)")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1, ge=1, le=64, description="server processes; one per core answers more requests"
    )
    stream_poll_s: float = Field(
        0.5, gt=0, le=10, description="seconds between looks for new alerts for the live stream"
    )
    access_log: bool = Field(False, description="log every request")
    ingest_stale_s: float = Field(
        30.0, gt=0, description="an ingest status older than this means ingest is not running"
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="larger request bodies are refused (413) unread"
    )
    anonymous_requests: int = Field(
        300,
        ge=1,
        description="requests a client address may make without a valid token per "
        "anonymous_window_s (429 past it); /healthz and /readyz are never limited",
    )
    anonymous_window_s: int = Field(60, ge=1, le=86_400, description="see anonymous_requests")
