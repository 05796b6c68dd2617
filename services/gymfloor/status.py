"""How an ingest instance is doing: its counters, detection latency and sinks' health.

Below both ingest, which fills these, and the store and API, which keep and serve them; the
dashboards and `/metrics` take the counter names from here.
"""

from __future__ import annotations

import bisect
from enum import StrEnum

from pydantic import BaseModel, Field


class IngestCounter(StrEnum):
    """The totals an ingest instance reports, by the name they have everywhere."""

    MESSAGES = "messages"
    REJECTED = "rejected"
    UNREGISTERED = "unregistered"
    REPS = "reps"
    FEEDBACK = "feedback"
    ALERTS = "alerts"
    ALERTS_SUPPRESSED = "alerts_suppressed"
    DUPLICATES = "duplicates"
    STORE_ERRORS = "store_errors"
    JOURNAL_ERRORS = "journal_errors"
    INTERNAL_ERRORS = "internal_errors"


INGEST_COUNTER_HELP: dict[IngestCounter, str] = {
    IngestCounter.MESSAGES: "messages accepted from the broker",
    IngestCounter.REJECTED: "messages rejected as malformed or not in the contract",
    IngestCounter.UNREGISTERED: "of the rejected, messages from machines not registered",
    IngestCounter.REPS: "rep reports produced",
    IngestCounter.FEEDBACK: "feedback cues sent to machines",
    IngestCounter.ALERTS: "staff alerts raised",
    IngestCounter.ALERTS_SUPPRESSED: "staff alerts held back by the alert policy",
    IngestCounter.DUPLICATES: "telemetry batches delivered twice, counted once",
    IngestCounter.STORE_ERRORS: "failed writes to the operational store (retried)",
    IngestCounter.JOURNAL_ERRORS: "messages that could not be journalled",
    IngestCounter.INTERNAL_ERRORS: "messages that met a bug",
}


LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LatencyHistogram(BaseModel):
    """Counts of latencies per bucket: `counts[i]` ≤ `bounds[i]`, the last one above them all."""

    bounds: tuple[float, ...] = LATENCY_BOUNDS_S
    counts: list[int] = Field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_S) + 1))
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def since(self, earlier: LatencyHistogram) -> LatencyHistogram:
        """What was observed after `earlier`, a copy of this histogram taken then."""
        return LatencyHistogram(
            bounds=self.bounds,
            counts=[now - then for now, then in zip(self.counts, earlier.counts, strict=True)],
            sum=self.sum - earlier.sum,
        )

    def quantile(self, q: float) -> float | None:
        """The bound of the bucket holding the `q` quantile: the latency that share of the
        observations stayed within, to the bucket. None: no observation, or it lies beyond the
        last bound."""
        total = sum(self.counts)
        if total == 0:
            return None
        seen = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            seen += count
            if seen >= q * total:
                return bound
        return None


class TimeseriesHealth(BaseModel):
    reachable: bool
    backlog_points: int = Field(description="points spooled on disk and not yet written")
    points_written: int
    write_errors: int = Field(description="failed writes, each retried")
    writes_refused: int = Field(0, description="chunks InfluxDB refused as invalid, skipped")
    points_dropped: int = Field(0, description="points dropped with the spool full")
    spool_errors: int = Field(0, description="appends or syncs of the spool that failed")
    last_error: str | None


class IngestHealth(BaseModel):
    """What an ingest instance reports every few seconds (table `ingest_status`)."""

    counters: dict[str, int] = Field(description="totals since the instance started")
    queued: int
    machines: int
    broker_connected: bool
    detection_latency: LatencyHistogram = Field(
        description="from a telemetry batch's arrival to the feedback or report it caused"
    )
    timeseries: TimeseriesHealth | None = Field(description="null when no InfluxDB is set up")
