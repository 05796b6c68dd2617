"""The InfluxDB sink of `gymfloor ingest`: points into the spool, a thread from there to InfluxDB.

    ingest's flush → line protocol (points.py) → spool on disk (spool.py) → sender → /api/v2/write

The sender posts chunks with influxdb-client's SYNCHRONOUS write API and acknowledges a chunk to
the spool only once InfluxDB has answered. Not the client's batching mode: its buffer lives in
memory, so a kill or a long outage would lose what it held; the spool is that buffer, on disk.
Delivery is at least once (a chunk in flight at a kill or a failure is sent again) and the
stored result exactly once, because InfluxDB overwrites a point with the same series and time.

While InfluxDB is unreachable the sender retries forever, waiting 1 s, then twice as long each
time up to 30 s; it logs the first failure and the recovery, never each retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from gymfloor.outputs import Changes
from gymfloor.redact import redact
from gymfloor.status import TimeseriesHealth
from gymfloor.storage.timeseries.config import InfluxConfig
from gymfloor.storage.timeseries.points import changes_lines, ingest_point
from gymfloor.storage.timeseries.spool import Chunk, Spool

log = logging.getLogger("gymfloor.timeseries")

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
REFUSED = (400, 422)
"""InfluxDB read the chunk and refused some or all of its points (a field type conflict, say):
sending it again would be refused again, so it is counted and skipped, not left to block the
spool."""


class TimeSeriesSink:
    def __init__(self, config: InfluxConfig, spool_dir: Path) -> None:
        assert config.url is not None
        self.url = redact(config.url)  # for log lines only
        self.bucket, self.org = config.bucket, config.org
        self.batch_lines = config.batch_lines
        self.spool = Spool(spool_dir, config.spool_max_bytes)
        self.points_spooled = 0
        self.points_written = 0
        self.writes_refused = 0
        self.write_errors = 0
        self.spool_errors = 0
        self.reachable = True
        """False from a failed write until the next one that succeeds."""
        self.last_error: str | None = None
        self._client = InfluxDBClient(
            config.url,
            token=config.token.get_secret_value() if config.token else "",  # "": no header
            org=config.org,
            timeout=round(config.timeout_s * 1000),
            enable_gzip=True,  # trace lines shrink twelvefold (measured): it counts after an outage
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._drain_until = 0.0
        self._sender = threading.Thread(target=self._send, name="influx-sender", daemon=True)

    @property
    def backlog_points(self) -> int:
        """Points not yet acknowledged by InfluxDB."""
        return self.spool.backlog

    @property
    def points_dropped(self) -> int:
        return self.spool.points_dropped

    def health(self) -> TimeseriesHealth:
        return TimeseriesHealth(
            reachable=self.reachable,
            backlog_points=self.backlog_points,
            points_written=self.points_written,
            write_errors=self.write_errors,
            writes_refused=self.writes_refused,
            points_dropped=self.points_dropped,
            spool_errors=self.spool_errors,
            last_error=self.last_error,
        )

    # -- the ingest service's thread -------------------------------------------------------------

    def append(self, changes: Changes) -> None:
        self._spool(changes_lines(changes))

    def record_ingest(self, instance: str, counters: Mapping[str, int | float]) -> None:
        """An ingest instance's counters (a service, or a partition of partitioned ingest),
        stamped now, as one point of the `ingest` measurement."""
        self._spool([ingest_point(instance, counters, time.time_ns()).to_line_protocol()])

    def sync(self) -> None:
        """Make the spool survive a power cut; before a checkpoint lets the journal go."""
        try:
            self.spool.sync()
        except OSError as exc:
            self.spool_errors += 1
            log.error("cannot sync the time-series spool (%s)", exc)

    def start(self) -> None:
        self._sender.start()

    def stop(self, drain_s: float) -> None:
        """Give the sender `drain_s` to send what is spooled; the rest stays in the spool."""
        self._drain_until = time.monotonic() + drain_s
        self._closing.set()
        self._wake.set()
        if self._sender.is_alive():
            # A request under way may take its whole timeout; the thread is a daemon.
            self._sender.join(drain_s + self._client.conf.timeout / 1000)
        log.info(
            "time-series sink stopped, %d points left in the spool",
            self.backlog_points,
            extra={"points_written": self.points_written},
        )
        self.spool.close()
        self._client.close()

    def _spool(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self.spool.append(lines)
        except OSError as exc:  # a full disk must not stop the floor; the store has the data
            self.spool_errors += 1
            log.error("cannot spool %d time-series points (%s); they are lost", len(lines), exc)
            return
        self.points_spooled += len(lines)
        self._wake.set()

    # -- the sender thread -----------------------------------------------------------------------

    def _send(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            self._wake.clear()  # before reading, so that an append from now on wakes us
            chunk = self.spool.read(self.batch_lines)
            if self._closing.is_set() and (
                chunk is None or not self.reachable or time.monotonic() > self._drain_until
            ):
                return
            if chunk is None:
                self._wake.wait()
            elif self._write(chunk):
                delay = BACKOFF_MIN_S
            elif self._closing.wait(delay):
                return
            else:
                delay = min(2 * delay, BACKOFF_MAX_S)

    def _write(self, chunk: Chunk) -> bool:
        """Send one chunk; False if it must be sent again."""
        try:
            self._write_api.write(self.bucket, self.org, chunk.body)
        except ApiException as exc:
            if exc.status not in REFUSED:
                return self._failed(f"HTTP {exc.status} {exc.reason}: {_message(exc)}")
            self.writes_refused += 1
            log.error("influxdb refused (some of) %d points: %s", chunk.lines, _message(exc))
        except (HTTPError, OSError) as exc:  # no answer: refused, reset, timed out
            return self._failed(str(exc))
        else:
            self.points_written += chunk.lines
        if not self.reachable:  # counted before this chunk is acknowledged: the outage's backlog
            log.info("influxdb reachable again, %d points behind", self.backlog_points)
        self.spool.ack(chunk)
        self.reachable, self.last_error = True, None
        return True

    def _failed(self, reason: str) -> bool:
        self.write_errors += 1
        self.last_error = reason
        if self.reachable:
            log.error(
                "cannot write to influxdb at %s (%s); keeping points in %s and retrying",
                self.url,
                reason,
                self.spool.directory,
            )
        self.reachable = False
        return False


def _message(exc: ApiException) -> str:
    """InfluxDB's reason: the client takes it from the JSON body or an error header, and leaves
    a body it cannot parse (1.x's {"error": …}) as bytes."""
    message = exc.message
    return message.decode(errors="replace").strip() if isinstance(message, bytes) else message
