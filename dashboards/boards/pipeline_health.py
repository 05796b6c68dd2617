"""gymfloor ingest's own counters, from the `ingest` points it writes every checkpoint."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, timeseries

from dashboards.panels import base, placed, series
from dashboards.queries import InfluxQL, variable
from gymfloor.status import IngestCounter
from gymfloor.storage.timeseries.schema import IngestLevel, Measurement, Tag

INGEST = f'FROM "{Measurement.INGEST}" WHERE "{Tag.INSTANCE}" =~ /^$instance$/ AND $timeFilter'
BY_TIME = f'GROUP BY time($__interval), "{Tag.INSTANCE}" fill(none)'
BY_INSTANCE = f"$tag_{Tag.INSTANCE}: $col"


def rate(field: IngestCounter) -> InfluxQL:
    """A counter's increase per second."""
    return InfluxQL(
        f'SELECT non_negative_derivative(max("{field}"), 1s) AS "{field}" {INGEST} {BY_TIME}',
        ref_id=field,
        alias=BY_INSTANCE,
    )


def level(field: IngestLevel) -> InfluxQL:
    return InfluxQL(
        f'SELECT max("{field}") AS "{field}" {INGEST} {BY_TIME}', ref_id=field, alias=BY_INSTANCE
    )


def counters(title: str, *queries: InfluxQL, unit: str, about: str) -> timeseries.Panel:
    # Ingest writes its counters every checkpoint (5 s): finer buckets would be empty.
    panel = series(title, *queries, unit=unit, description=about).interval("5s")
    return placed(panel, 12, 8)


def pipeline_health() -> dashboard.Dashboard:
    return (
        base(
            "gymfloor-pipeline",
            "gymfloor: pipeline health",
            "gymfloor ingest's own counters, as it writes them every checkpoint.",
            "now-6h",
            "30s",
        )
        .with_variable(
            variable(
                "instance",
                "Ingest",
                f'SHOW TAG VALUES FROM "{Measurement.INGEST}" WITH KEY = "{Tag.INSTANCE}"',
            )
        )
        .with_panel(
            counters(
                "Messages in",
                rate(IngestCounter.MESSAGES),
                unit="reqps",
                about="MQTT messages ingest took in, per second.",
            )
        )
        .with_panel(
            counters(
                "Rejected and duplicate messages",
                rate(IngestCounter.REJECTED),
                rate(IngestCounter.DUPLICATES),
                unit="reqps",
                about="Messages that broke the contract, and batches seen twice.",
            )
        )
        .with_panel(
            counters(
                "Reps, alerts and cues out",
                rate(IngestCounter.REPS),
                rate(IngestCounter.ALERTS),
                rate(IngestCounter.FEEDBACK),
                unit="ops",
                about="Rep reports, staff alerts and cues to the machines' displays, per second.",
            )
        )
        .with_panel(
            counters(
                "Backlog",
                level(IngestLevel.QUEUED),
                level(IngestLevel.SPOOL_BACKLOG),
                unit="short",
                about="Messages waiting in the machines' queues, and points in the spool that "
                "InfluxDB has not accepted yet.",
            )
        )
        .with_panel(
            counters(
                "Detection latency",
                level(IngestLevel.DETECTION_LATENCY_P50_S),
                level(IngestLevel.DETECTION_LATENCY_P99_S),
                unit="s",
                about="From a telemetry batch's arrival to the cue or report it led to: the "
                "median and the 99th percentile of each checkpoint interval, to the bucket.",
            )
        )
        .with_panel(
            counters(
                "Errors",
                rate(IngestCounter.STORE_ERRORS),
                rate(IngestCounter.JOURNAL_ERRORS),
                rate(IngestCounter.INTERNAL_ERRORS),
                unit="ops",
                about="Failed writes to the store or the journal, and messages that met a bug.",
            )
        )
    )
