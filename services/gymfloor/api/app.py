"""The API application: members read their reports, staff the floor, admins manage access.

create_app(store) → FastAPI: routers under /v1 (one per resource), /healthz, /readyz, /metrics,
and the browser pages /board (staff) and /report (members) with their /static files
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import OperationalError

from gymfloor.api.body_limit import BodyLimit
from gymfloor.api.config import ApiConfig
from gymfloor.api.metrics import IngestCollector, RequestMetrics, WebhookCollector
from gymfloor.api.rate_limit import AnonymousRateLimit
from gymfloor.api.routers import alerts, machines, me, members, ops, reps, tokens, web
from gymfloor.storage import OperationalStore
from gymfloor.storage.pagination import CursorError

log = logging.getLogger("gymfloor.api")

DESCRIPTION = """
Rep reports, sessions and coaching for members; the floor's reps, machines and staff alerts
for staff, of the gyms their token was issued for; members and tokens for admins.

Every `/v1` call needs `Authorization: Bearer <token>`, from `gymfloor tokens issue`. Lists
are paged: pass a page's `next_cursor` as `cursor` to get the next one.
"""


class Background(Protocol):
    """Work that runs beside the API for as long as it serves (the webhook deliverer)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    store: OperationalStore, config: ApiConfig | None = None, background: Sequence[Background] = ()
) -> FastAPI:
    config = config or ApiConfig()

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        for work in background:
            work.start()
        yield
        for work in background:
            await run_in_threadpool(work.stop)

    app = FastAPI(title="gymfloor", version="1", description=DESCRIPTION, lifespan=running)
    app.state.store = store
    app.state.config = config
    app.state.registry = registry = CollectorRegistry()
    registry.register(IngestCollector(store, config.ingest_stale_s))
    registry.register(WebhookCollector(store))
    # The last added runs first: every answer is counted, refusals included, and a client over
    # its rate is refused before its body is read.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(
        AnonymousRateLimit,
        store=store,
        requests=config.anonymous_requests,
        window_s=config.anonymous_window_s,
    )
    app.add_middleware(RequestMetrics, registry=registry)
    for module in (me, reps, alerts, machines, members, tokens, ops, web):
        app.include_router(module.router)
    app.mount("/static", web.static, name="static")
    app.add_exception_handler(CursorError, _bad_cursor)
    app.add_exception_handler(OperationalError, _store_unavailable)
    return app


async def _bad_cursor(request: Request, exc: Exception) -> JSONResponse:
    # 400, not 422: the cursor is well-formed as a parameter; what it holds is not ours.
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_400_BAD_REQUEST)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database is down, locked past its timeout or out of disk: not the request's fault, and
    # likely to pass, so 503 (counted in gymfloor_api_requests_total) rather than a bare 500.
    log.error("the store is unavailable (%s) for %s %s", exc, request.method, request.url.path)
    return JSONResponse(
        {"detail": "the store is unavailable; try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )
