"""Prometheus metrics: the API's own requests, each ingest instance's counters as it last
reported them to the store (ingest has no HTTP server; the store is where the two meet), and
the webhooks' outbox."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gymfloor.status import INGEST_COUNTER_HELP
from gymfloor.storage import IngestStatus, OperationalStore
from gymfloor.storage.outbox import DeliveryState, counts_by_webhook

TIMESERIES_COUNTERS = {
    "points_written": "time-series points InfluxDB accepted",
    "write_errors": "failed writes to InfluxDB (retried)",
    "writes_refused": "chunks of points InfluxDB refused as invalid (skipped)",
    "points_dropped": "points dropped from a full spool",
    "spool_errors": "appends or syncs of the spool that failed",
}


class IngestCollector(Collector):
    def __init__(self, store: OperationalStore, stale_after_s: float) -> None:
        self.store = store
        self.stale_after_s = stale_after_s

    def collect(self) -> Iterator[Metric]:
        statuses = self.store.ingest_statuses()
        up = GaugeMetricFamily(
            "gymfloor_ingest_up", "1 while the ingest instance reports in", labels=["instance"]
        )
        for status in statuses:
            up.add_metric([status.instance], float(fresh(status, self.stale_after_s)))
        yield up
        for counter, help_text in INGEST_COUNTER_HELP.items():
            family = CounterMetricFamily(
                f"gymfloor_ingest_{counter}", help_text, labels=["instance"]
            )
            for status in statuses:
                family.add_metric([status.instance], status.health.counters.get(counter, 0))
            yield family
        for name, help_text in TIMESERIES_COUNTERS.items():
            family = CounterMetricFamily(f"gymfloor_influx_{name}", help_text, labels=["instance"])
            for status in statuses:
                sink = status.health.timeseries
                family.add_metric([status.instance], getattr(sink, name) if sink else 0)
            yield family
        yield from self._gauges(statuses)
        yield self._latency(statuses)

    def _gauges(self, statuses: list[IngestStatus]) -> Iterator[Metric]:
        gauges = {
            "gymfloor_ingest_queued": ("messages waiting to be processed", lambda h: h.queued),
            "gymfloor_ingest_machines": ("machines with detector state", lambda h: h.machines),
            "gymfloor_broker_connected": (
                "1 while ingest is connected to the MQTT broker",
                lambda h: float(h.broker_connected),
            ),
            "gymfloor_influx_backlog_points": (
                "time-series points spooled on disk, not yet in InfluxDB",
                lambda h: h.timeseries.backlog_points if h.timeseries else 0,
            ),
            "gymfloor_influx_reachable": (
                "1 while InfluxDB accepts writes",
                lambda h: float(h.timeseries.reachable) if h.timeseries else 0,
            ),
        }
        for name, (help_text, value) in gauges.items():
            family = GaugeMetricFamily(name, help_text, labels=["instance"])
            for status in statuses:
                family.add_metric([status.instance], value(status.health))
            yield family

    def _latency(self, statuses: list[IngestStatus]) -> Metric:
        family = HistogramMetricFamily(
            "gymfloor_detection_latency_seconds",
            "from a telemetry batch's arrival at ingest to the feedback or rep report it caused",
            labels=["instance"],
        )
        for status in statuses:
            latency = status.health.detection_latency
            cumulative, buckets = 0, []
            for bound, count in zip([*latency.bounds, float("inf")], latency.counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            family.add_metric([status.instance], buckets, latency.sum)
        return family


class WebhookCollector(Collector):
    """Each webhook's outbox, as the store holds it: every process's deliveries together."""

    def __init__(self, store: OperationalStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        with self.store.read() as db:
            counts = counts_by_webhook(db)
        gauges = {
            DeliveryState.PENDING: ("pending", "deliveries waiting to be sent or retried"),
            DeliveryState.DEAD: ("dead_letters", "deliveries given up after their last attempt"),
        }
        for state, (name, help_text) in gauges.items():
            family = GaugeMetricFamily(
                f"gymfloor_webhook_{name}", help_text, labels=["gym", "webhook"]
            )
            for (gym_id, webhook_id), by_state in sorted(counts.items()):
                family.add_metric([gym_id, webhook_id], by_state[state])
            yield family


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
"""The label of every method not in METHODS: a client may send any token as a method."""
UNMATCHED_ROUTE = "unmatched"
"""The label of every path no route took, and of requests refused before routing."""


def fresh(status: IngestStatus, stale_after_s: float) -> bool:
    return time.time() - status.updated_at <= stale_after_s


class RequestMetrics:
    """Counts requests by method and route template (not the raw path, which would make a series
    per id; unknown methods and paths fold into one label each, so no client can grow the
    series) and times them to the start of the response, so an alert stream counts as one
    request.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware would cost every request a task and
    a stream of its own (/healthz served 1,600 requests/s without it against 1,000-1,100 with,
    docs/PERFORMANCE.md)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "gymfloor_api_requests",
            "API requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "gymfloor_api_request_duration_seconds",
            "time from a request to the start of its response",
            ["route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The router has matched by now, and left the route in the scope.
                route = str(getattr(scope.get("route"), "path", UNMATCHED_ROUTE))
                method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
                self.requests.labels(method, route, str(message["status"])).inc()
                self.duration.labels(route).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, counted)
