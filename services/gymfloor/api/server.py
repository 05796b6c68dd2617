"""Running the API under uvicorn, stopped by the caller's event like every gymfloor service."""

from __future__ import annotations

import gc
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
    app = create_app(store, config)
    # Full collections walked the 100,000 objects left from start-up (FastAPI, pydantic,
    # SQLAlchemy) for 80-90 ms each, every few seconds under load; frozen, they are skipped.
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
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
