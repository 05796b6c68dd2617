"""Health, readiness and metrics, for load balancers, orchestrators and Prometheus. They need
no token and show no personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gymfloor.api.config import ApiConfig
from gymfloor.api.deps import get_config, get_store
from gymfloor.api.metrics import fresh
from gymfloor.storage import OperationalStore

router = APIRouter(tags=["operations"])


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
    influx_backlog_points: int


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(
    response: Response,
    store: Annotated[OperationalStore, Depends(get_store)],
    config: Annotated[ApiConfig, Depends(get_config)],
) -> Readiness:
    """Ready when the store answers, ingest reports a broker connection, and InfluxDB (when
    set up) takes writes. The InfluxDB backlog is here whether or not it is ready."""
    checks: dict[str, Check] = {}
    backlog = 0
    try:
        with store.read() as db:
            db.execute(text("SELECT 1"))
        statuses = [s for s in store.ingest_statuses() if fresh(s, config.ingest_stale_s)]
        checks["store"] = Check(ok=True, detail="answering")
    except SQLAlchemyError as exc:
        statuses = []
        checks["store"] = Check(ok=False, detail=f"unreachable: {type(exc).__name__}")
    if not statuses:
        checks["broker"] = Check(ok=False, detail="no ingest instance has reported lately")
    else:
        connected = [s.instance for s in statuses if s.health.broker_connected]
        checks["broker"] = Check(
            ok=len(connected) == len(statuses),
            detail=f"{len(connected)} of {len(statuses)} ingest instances connected",
        )
    sinks = [s.health.timeseries for s in statuses if s.health.timeseries is not None]
    backlog = sum(sink.backlog_points for sink in sinks)
    if not sinks:
        checks["influxdb"] = Check(ok=True, detail="not set up")
    else:
        errors = [sink.last_error for sink in sinks if not sink.reachable]
        checks["influxdb"] = Check(
            ok=not errors,
            detail=f"unreachable: {errors[0]}" if errors else f"{backlog} points behind",
        )
    ready = all(check.ok for check in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(ready=ready, checks=checks, influx_backlog_points=backlog)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
