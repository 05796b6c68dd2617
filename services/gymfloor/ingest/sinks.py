"""Where the pipeline's changes go: the operational store, behind a retry buffer.

(The time-series sink, `storage/timeseries/sink.py`, keeps its own spool on disk.) Both are
written from the committer's thread (`checkpoint.py`), never from the pipeline's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from sqlalchemy.exc import SQLAlchemyError

from gymfloor.outputs import Changes
from gymfloor.status import IngestHealth
from gymfloor.storage import OperationalStore

log = logging.getLogger("gymfloor.ingest")

TRACE_WRITE_INTERVAL_S = 1.0
"""How often the trace goes to the store: the board reads it every 2 s, and the rows, not the
samples, cost (bench/sink_cost.py), so a second per machine goes in one row."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    errors: int
    """Failed writes; what they held is retried."""
    unsaved: str
    """What waits for the store, in words (empty: nothing)."""


class StoreSink:
    def __init__(self, store: OperationalStore, trace_retention_s: float) -> None:
        self.store = store
        self.trace_retention_s = trace_retention_s
        self.errors = 0
        self._unsaved = Changes()
        self._trace_written = time.monotonic()

    def write(self, changes: Changes, with_trace: bool = False) -> bool:
        """Add `changes` to what waits, and write it all, the trace too if `with_trace` or once
        a second. False: the store failed, and everything waits for the next call."""
        self._unsaved.absorb(changes)
        with_trace = with_trace or time.monotonic() - self._trace_written >= TRACE_WRITE_INTERVAL_S
        writing = self._unsaved if with_trace else replace(self._unsaved, trace={})
        if not writing:
            return True
        try:
            self.store.write(writing, keep_trace_s=self.trace_retention_s)
        except SQLAlchemyError as exc:
            self.errors += 1
            self._unsaved.forget_trace_older_than(self.trace_retention_s)
            log.error("cannot write the store (%s); keeping %s to retry", exc, self._unsaved)
            return False
        if with_trace:
            self._trace_written = time.monotonic()
        self._unsaved = Changes(trace={} if with_trace else self._unsaved.trace)
        return True

    def report_status(self, instance: str, started_at: float, health: IngestHealth) -> None:
        """Tell the store how ingest is doing; the API serves it as /metrics and /readyz."""
        try:
            self.store.report_status(instance, started_at, health)
        except SQLAlchemyError as exc:
            self.errors += 1
            log.error("cannot write ingest's status to the store (%s)", exc)

    def health(self) -> StoreHealth:
        """Read from the pipeline's thread for status lines; the counts may be a write old."""
        return StoreHealth(self.errors, str(self._unsaved) if self._unsaved else "")
