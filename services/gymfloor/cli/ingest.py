"""`gymfloor ingest`: the live service."""

from __future__ import annotations

import argparse
import logging
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import add_command, stop_on_signals
from gymfloor.cli.flags import (
    add_detector_flags,
    add_mqtt_flags,
    add_nats_flags,
    add_store_flags,
    setting_flag,
)
from gymfloor.ingest.errors import StartupError

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings

log = logging.getLogger("gymfloor.ingest")


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "ingest",
        run,
        help="run the live ingest service",
        description="Subscribe to every machine's telemetry, session and status topics, detect "
        "reps and faults, publish feedback to the machines, staff alerts and rep reports, and "
        "store them; with an InfluxDB URL, also write them as time series for dashboards. "
        "Keeps a journal and checkpoints, so a restart loses and repeats nothing. "
        "Stops cleanly on SIGTERM or Ctrl-C.",
    )
    add_mqtt_flags(command)
    add_nats_flags(command)
    add_store_flags(command)
    influx = command.add_argument_group(
        "time series", "token, bucket and the rest: GYMFLOOR_INFLUX__*, see docs/TIMESERIES.md"
    )
    setting_flag(
        influx,
        "--influx-url",
        "influx.url",
        "also write time series to this InfluxDB, e.g. http://localhost:8086",
    )
    add_detector_flags(command)


def run(args: argparse.Namespace, settings: Settings) -> int:
    timeseries = wiring.time_series_sink(settings)
    with closing(wiring.open_store(settings)) as store, wiring.sending(timeseries):
        try:
            wiring.ingest_service(settings, store, timeseries).run(stop_on_signals())
        except StartupError as exc:
            log.error("ingest could not start: %s", exc)
            return 1
    return 0
