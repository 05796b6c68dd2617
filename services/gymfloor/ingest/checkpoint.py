"""Checkpoints, and the thread that writes the sinks and commits checkpoints behind them.

A checkpoint is the pipeline's state as of an intake position. It may replace the messages up
to that position only once everything they produced is stored, so the order is:

    pipeline thread:   cut the intake → process what it still holds up to the cut →
                       hand the changes over → snapshot the state (lazily copied, so no pause)
    committer thread:  write the changes to the store and the time-series spool → sync the
                       spool → save the checkpoint → acknowledge the position to the intake

The committer takes its work in the order it was handed over, so a checkpoint always follows
the changes it covers. Should the process die between the two, the replay derives some outputs
again, and the store keeps the first of each. Should the store be down, the checkpoint is
dropped, and the intake keeps its messages until a later one succeeds.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from gymfloor.detector.snapshot import MachinesSnapshot
from gymfloor.ingest.pipeline import PipelineSnapshot
from gymfloor.ingest.sinks import StoreSink
from gymfloor.outputs import Changes
from gymfloor.status import IngestHealth, LatencyHistogram
from gymfloor.storage.timeseries.schema import IngestLevel

if TYPE_CHECKING:  # influxdb-client is imported only when a sink is configured
    from gymfloor.storage.timeseries.sink import TimeSeriesSink

log = logging.getLogger("gymfloor.ingest")

CHECKPOINT_FILE = "checkpoint.pickle"
RETRY_INTERVAL_S = 1.0
"""How often changes waiting for a store that is down are tried again, with nothing new."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int
    """The intake position it covers: replay starts after it."""
    state: PipelineSnapshot


class CheckpointStore(Protocol):
    """Where the latest checkpoint is kept: a local file, or (partitioned ingest) JetStream."""

    def load(self) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None:
        """Keep it, whole, in place of the last; raise if it could not be kept."""
        ...


def write_checkpoint(checkpoint: Checkpoint, out: IO[bytes]) -> None:
    """A stream of pickles: the checkpoint without its machines, then one record a machine,
    then None. Each machine is written as soon as the snapshot gives it up, so a second copy of
    the floor's state never builds up in memory."""
    state = checkpoint.state
    machines = state.detector.machines
    assert isinstance(machines, MachinesSnapshot)
    bare = replace(state, detector=replace(state.detector, machines={}))
    pickle.dump(replace(checkpoint, state=bare), out, pickle.HIGHEST_PROTOCOL)
    for record in machines.drain():
        pickle.dump(record, out, pickle.HIGHEST_PROTOCOL)
    pickle.dump(None, out)


def read_checkpoint(source: IO[bytes]) -> Checkpoint:
    """What `write_checkpoint` wrote; only ever this service's own (unpickling runs code)."""
    checkpoint: Checkpoint = pickle.load(source)
    machines = checkpoint.state.detector.machines
    assert isinstance(machines, dict)
    while (record := pickle.load(source)) is not None:
        key, frozen = record
        machines[key] = pickle.loads(frozen)
    return checkpoint


class CheckpointFile:
    """The latest checkpoint in one file, replaced atomically: there is always a whole one."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / CHECKPOINT_FILE

    def load(self) -> Checkpoint | None:
        if not self.path.exists():
            return None
        with self.path.open("rb") as source:
            return read_checkpoint(source)

    def save(self, checkpoint: Checkpoint) -> None:
        """Written machine by machine, fsynced, and renamed into place."""
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as out:
            write_checkpoint(checkpoint, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.path)


@dataclass(frozen=True, slots=True)
class _Status:
    instance: str
    started_at: float
    health: IngestHealth
    point: dict[str, float]
    """The same, flattened, for the time-series `ingest` measurement."""


_Work = Changes | Checkpoint | _Status | None  # None: stop


class Committer:
    """The thread that writes the sinks and commits checkpoints, in the order handed over."""

    def __init__(
        self,
        store: StoreSink,
        timeseries: TimeSeriesSink | None,
        checkpoints: CheckpointStore,
        acknowledge: Callable[[int], None],
    ) -> None:
        self.store = store
        self.timeseries = timeseries
        self.checkpoints = checkpoints
        self._acknowledge = acknowledge
        self._work: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._idle = threading.Event()  # no checkpoint is on its way
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="ingest-committer", daemon=True)

    def start(self) -> None:
        """The time-series sink, possibly shared with other committers, is started and stopped
        by its owner (`gymfloor.wiring.sending`)."""
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A checkpoint handed over is not yet committed or dropped: wait before the next."""
        return not self._idle.is_set()

    def changes(self, changes: Changes) -> None:
        self._work.put(changes)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        self._idle.clear()
        self._work.put(checkpoint)

    def status(
        self, instance: str, started_at: float, health: IngestHealth, latency: LatencyHistogram
    ) -> None:
        """`latency`: the detection latencies since the last status, for their quantiles."""
        point = {
            **health.counters,
            IngestLevel.QUEUED: health.queued,
            **_latency_quantiles(latency),
        }
        self._work.put(_Status(instance, started_at, health, point))

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the checkpoint on its way; False if it was not done in time."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        """Finish what was handed over, then stop."""
        self._work.put(None)
        self._thread.join()

    # -- the committer's thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                work = self._work.get(timeout=RETRY_INTERVAL_S)
            except queue.Empty:
                self.store.write(Changes())  # retry what waits, and write the trace when due
                continue
            if work is None:
                return
            try:
                self._do(work)
            except Exception:  # a bug here must not stop the writes behind it
                log.exception("could not commit %s", type(work).__name__)
                self._idle.set()

    def _do(self, work: Changes | Checkpoint | _Status) -> None:
        if isinstance(work, Changes):
            if self.timeseries is not None:
                # Spooled once as they come, whatever the store does; only a journal replay
                # after a crash derives (and spools) some again, and InfluxDB absorbs that,
                # identical points overwriting each other.
                self.timeseries.append(work)
            self.store.write(work)
        elif isinstance(work, Checkpoint):
            self._commit(work)
        else:
            if self.timeseries is not None:
                backlog = self.timeseries.backlog_points
                point = {**work.point, IngestLevel.SPOOL_BACKLOG: backlog}
                self.timeseries.record_ingest(work.instance, point)
            self.store.report_status(work.instance, work.started_at, work.health)

    def _commit(self, checkpoint: Checkpoint) -> None:
        try:
            if not self.store.write(Changes(), with_trace=True):
                return  # the intake keeps the messages; a later checkpoint covers them
            if self.timeseries is not None:
                self.timeseries.sync()  # the checkpoint lets messages go: their points first
            try:
                self.checkpoints.save(checkpoint)
            except Exception as exc:  # refused (fenced), or JetStream electing: a later one
                log.warning("checkpoint at %d not saved: %s", checkpoint.position, exc)
                return
            self._acknowledge(checkpoint.position)
        finally:
            self._idle.set()


def _latency_quantiles(window: LatencyHistogram) -> dict[str, float]:
    """The median and the 99th percentile, each to its histogram bucket's bound."""
    quantiles = {
        IngestLevel.DETECTION_LATENCY_P50_S: window.quantile(0.5),
        IngestLevel.DETECTION_LATENCY_P99_S: window.quantile(0.99),
    }
    return {name: value for name, value in quantiles.items() if value is not None}
