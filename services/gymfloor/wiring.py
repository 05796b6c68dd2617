"""The running parts, built from the settings: the operational store, the time-series sink, the
ingest service and the API. The commands and the demo build them here and nowhere else, and each
part is handed its own section of the settings.

Importing this module is cheap: each function imports the part it builds (SQLAlchemy, paho,
FastAPI, uvicorn, influxdb-client) when it is called, and the settings are the caller's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gymfloor.logs import configure_logging
from gymfloor.settings_names import env_var

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gymfloor.ingest.jetstream.worker import PartitionedIngest
    from gymfloor.ingest.service import IngestService
    from gymfloor.settings import Settings
    from gymfloor.storage import OperationalStore
    from gymfloor.storage.timeseries.sink import TimeSeriesSink


def open_store(settings: Settings) -> OperationalStore:
    """The operational store, created or migrated to the newest schema if need be. The caller
    closes it."""
    from gymfloor.storage import OperationalStore

    return OperationalStore(settings.store_url)


def time_series_sink(settings: Settings) -> TimeSeriesSink | None:
    """The InfluxDB sink, if GYMFLOOR_INFLUX__URL names a server; its spool is in the data dir."""
    if settings.influx.url is None:
        return None
    from gymfloor.storage.timeseries.sink import TimeSeriesSink

    return TimeSeriesSink(settings.influx, settings.data_dir / "influx-spool")


TIMESERIES_DRAIN_S = 5.0
"""On a stop, how long the time-series sender may go on sending; the rest waits in its spool."""


@contextmanager
def sending(timeseries: TimeSeriesSink | None) -> Iterator[None]:
    """The time-series sink's sender runs inside; on leaving, it gets a few seconds to send
    what is spooled. One sink serves every committer of the process."""
    if timeseries is None:
        yield
        return
    timeseries.start()
    try:
        yield
    finally:
        timeseries.stop(TIMESERIES_DRAIN_S)


def ingest_service(
    settings: Settings, store: OperationalStore, timeseries: TimeSeriesSink | None
) -> IngestService | PartitionedIngest:
    """Ingest from the MQTT broker; or, with a NATS URL, one worker of partitioned ingest."""
    nats = settings.nats
    if nats is not None:
        from gymfloor.ingest.jetstream.worker import PartitionedIngest

        return PartitionedIngest(
            nats,
            settings.mqtt,
            store,
            timeseries,
            settings.ingest,
            settings.detector,
            settings.alerts,
        )
    from gymfloor.ingest.assembly import mqtt_ingest

    return mqtt_ingest(
        settings.mqtt,
        store,
        settings.data_dir / "ingest-journal",
        settings.ingest,
        settings.detector,
        settings.alerts,
        timeseries,
    )


def api_app(settings: Settings, store: OperationalStore) -> FastAPI:
    """The API, with the webhook deliverer beside it unless GYMFLOOR_WEBHOOKS__DELIVER is off:
    every API process runs one (docs/WEBHOOKS.md says why there)."""
    from gymfloor.api.app import create_app
    from gymfloor.api.server import frozen
    from gymfloor.webhooks.deliverer import Deliverer

    background = [Deliverer(store, settings.webhooks)] if settings.webhooks.deliver else []
    return frozen(create_app(store, settings.api, background))


def serve_api(settings: Settings, store: OperationalStore, stopping: threading.Event) -> bool:
    """Serve the API over `store` until `stopping` is set (with several workers, until SIGTERM
    or Ctrl-C). False if it could not start."""
    from gymfloor.api import server

    if settings.api.workers == 1:
        return server.serve(api_app(settings, store), settings.api, stopping)
    # Each worker process reads its settings from the environment and opens the store itself:
    # tell it the store's URL, which flags may have chosen. This process has migrated it.
    os.environ[env_var("db_url")] = store.engine.url.render_as_string(hide_password=False)
    return server.serve_workers(f"{__name__}:{api_worker_app.__name__}", settings.api)


def api_worker_app() -> FastAPI:
    """The app of one worker process of `gymfloor api --workers N`; uvicorn calls it in each."""
    from gymfloor.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return api_app(settings, open_store(settings))
