"""Running the API under uvicorn, stopped by the caller's event like every gymfloor service."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from gymfloor.api.config import ApiConfig

log = logging.getLogger("gymfloor.api")


def serve(app: FastAPI, config: ApiConfig, stopping: threading.Event) -> bool:
    """Serve `app` in this process until `stopping` is set, then finish the requests in flight.
    False if the server could not start (the port taken, say); uvicorn has logged why."""
    server = uvicorn.Server(uvicorn.Config(app, **_options(config)))
    # In a thread of its own uvicorn leaves signals alone: the caller's event stops it, so
    # SIGTERM ends `gymfloor api` as it ends ingest, with exit status 0.
    thread = threading.Thread(target=server.run, name="api")
    thread.start()
    while thread.is_alive() and not stopping.wait(0.2):
        if server.started:
            log.info("API on http://%s:%d (docs at /docs)", config.host, config.port)
            break
    while thread.is_alive() and not stopping.wait(0.2):
        pass
    server.should_exit = True
    thread.join()
    return server.started


def serve_workers(app_factory: str, config: ApiConfig) -> bool:
    """`config.workers` processes on one socket, managed by uvicorn until SIGTERM or Ctrl-C.
    Each imports and calls `app_factory` ("module:function") for its own app and store."""
    log.info("API on http://%s:%d with %d processes", config.host, config.port, config.workers)
    uvicorn.run(app_factory, factory=True, workers=config.workers, **_options(config))
    return True


def frozen(app: FastAPI) -> FastAPI:
    """The app, with everything made so far kept out of the garbage collector's full passes:
    they walked the 100,000 objects left from start-up (FastAPI, pydantic, SQLAlchemy) for
    80-90 ms each, every few seconds under load (docs/PERFORMANCE.md)."""
    gc.collect()
    gc.freeze()
    return app


class _NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with Nagle's algorithm off on every connection.

    With several workers, uvicorn binds the shared socket itself without naming TCP, and asyncio
    then leaves Nagle on for the connections it accepts: each response waited 40 ms for the
    client's delayed ACK (measured: 44 ms per request, where one process took 2-5 ms)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def _options(config: ApiConfig) -> dict[str, Any]:
    return {
        "http": _NoDelayH11Protocol,
        "host": config.host,
        "port": config.port,
        "log_config": None,  # our logging, text or JSON, for uvicorn's lines too
        "access_log": config.access_log,
        "timeout_graceful_shutdown": 5,  # alert streams never end on their own
    }
