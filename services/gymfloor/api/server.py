"""Running the API under uvicorn, stopped by the caller's event like every gymfloor service."""

from __future__ import annotations

import logging
import threading

import uvicorn

from gymfloor.api.app import create_app
from gymfloor.api.config import ApiConfig
from gymfloor.storage import OperationalStore

log = logging.getLogger("gymfloor.api")


def serve(store: OperationalStore, config: ApiConfig, stopping: threading.Event) -> bool:
    """Serve until `stopping` is set, then finish the requests in flight. False if the server
    could not start (the port taken, say); uvicorn has logged why."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, config),
            host=config.host,
            port=config.port,
            log_config=None,  # our logging, text or JSON, for uvicorn's lines too
            access_log=config.access_log,
            timeout_graceful_shutdown=5,  # alert streams never end on their own
        )
    )
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
