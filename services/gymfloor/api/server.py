"""Running the API under uvicorn, stopped by the caller's event like every gymfloor service."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from gymfloor.api.app import create_app
from gymfloor.api.config import ApiConfig
from gymfloor.logs import configure_logging
from gymfloor.settings import ENV_PREFIX, Settings
from gymfloor.storage import OperationalStore

log = logging.getLogger("gymfloor.api")


def serve(store: OperationalStore, config: ApiConfig, stopping: threading.Event) -> bool:
    """Serve until `stopping` is set, then finish the requests in flight. False if the server
    could not start (the port taken, say); uvicorn has logged why."""
    if config.workers > 1:
        return _serve_processes(store, config)
    server = uvicorn.Server(uvicorn.Config(frozen(create_app(store, config)), **_options(config)))
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


def frozen(app: FastAPI) -> FastAPI:
    """The app, with everything made so far kept out of the garbage collector's full passes:
    they walked the 100,000 objects left from start-up (FastAPI, pydantic, SQLAlchemy) for
    80-90 ms each, every few seconds under load (docs/PERFORMANCE.md)."""
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> FastAPI:
    """The app of each worker process, over the store the environment names."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return frozen(create_app(OperationalStore(settings.store_url), settings.api))


def _serve_processes(store: OperationalStore, config: ApiConfig) -> bool:
    """`config.workers` processes on one socket, managed by uvicorn until SIGTERM or Ctrl-C.
    Each opens the store itself, so it is told the store's URL, flags included."""
    os.environ[f"{ENV_PREFIX}DB_URL"] = store.engine.url.render_as_string(hide_password=False)
    log.info("API on http://%s:%d with %d processes", config.host, config.port, config.workers)
    uvicorn.run(
        f"{__name__}:{app_from_environment.__name__}",
        factory=True,
        workers=config.workers,
        **_options(config),
    )
    return True


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
