"""Offline analysis: a recording in, rep reports out, through the live service's detector.

`gymfloor analyze` runs in about a second on recordings of tens of megabytes, so what it
imports counts: this module and its imports stay clear of the live services (pydantic-settings,
MQTT, the store, the API).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from gymfloor.contract import MachineKey, RepReport, SessionPayload, TelemetryBatch
from gymfloor.decode_ahead import Decoded, Skipped, decoded_here
from gymfloor.detector import Detector, DetectorOutput

EVICT_EVERY = 5000
"""Messages between sweeps for silent machines, which keep memory bounded on long recordings."""


@dataclass(slots=True)
class AnalysisCounts:
    lines: int = 0
    messages: int = 0
    skipped: int = 0
    reports: int = 0


def analyze(
    lines: Iterable[bytes],
    detector: Detector,
    on_skip: Callable[[int, Skipped], None],
    counts: AnalysisCounts | None = None,
) -> Iterator[RepReport]:
    """Yield the rep reports of a recording, in the order the reps complete. A line that is
    not a valid message goes to `on_skip(line_no, skipped)` and the rest is still analysed."""
    return analyze_decoded(decoded_here(lines), detector, on_skip, counts)


def analyze_decoded(
    messages: Iterable[tuple[int, MachineKey | None, Decoded]],
    detector: Detector,
    on_skip: Callable[[int, Skipped], None],
    counts: AnalysisCounts | None = None,
) -> Iterator[RepReport]:
    """`analyze` of a recording decoded by `gymfloor.decode_ahead`: here (`decoded_here`) or
    ahead, in another process (`messages(chunks)`)."""
    counts = counts if counts is not None else AnalysisCounts()
    # The loop runs once per message: it does nothing for the many that complete no rep.
    for line_no, key, decoded in messages:
        counts.lines = line_no
        if isinstance(decoded, TelemetryBatch):
            assert key is not None
            outputs = detector.telemetry(key, decoded)
        elif isinstance(decoded, SessionPayload):
            assert key is not None
            outputs = detector.session(key, decoded)
        elif isinstance(decoded, Skipped):
            counts.skipped += 1
            on_skip(line_no, decoded)
            continue
        else:
            outputs = []
        counts.messages += 1
        if outputs:
            yield from _reports(outputs, counts)
        if counts.messages % EVICT_EVERY == 0:
            yield from _reports(detector.evict_idle(detector.clock), counts)
    yield from _reports(detector.flush(), counts)


def write_reports(
    lines: Iterable[bytes],
    sink: IO[str],
    detector: Detector,
    on_skip: Callable[[int, Skipped], None],
    counts: AnalysisCounts | None = None,
) -> AnalysisCounts:
    """All of `gymfloor analyze` but choosing the files and reporting: the rep reports of a
    recording written to `sink`, one JSON object a line."""
    return write_decoded(decoded_here(lines), sink, detector, on_skip, counts)


def write_decoded(
    messages: Iterable[tuple[int, MachineKey | None, Decoded]],
    sink: IO[str],
    detector: Detector,
    on_skip: Callable[[int, Skipped], None],
    counts: AnalysisCounts | None = None,
) -> AnalysisCounts:
    """`write_reports` of a recording already decoded, e.g. ahead, in another process. For a
    process that ends soon after: what exists when it starts and when it ends is left out of
    garbage collection for good."""
    # The objects of start-up (numpy, pydantic, numba's compiler: over 100,000) live as long as
    # the process. Frozen, the collector stops walking them, during the run and above all when
    # the interpreter exits: that last walk took 0.13 s, a fifth of analysing a small file.
    gc.freeze()
    counts = counts if counts is not None else AnalysisCounts()
    for report in analyze_decoded(messages, detector, on_skip, counts):
        sink.write(report.model_dump_json() + "\n")
    gc.freeze()
    return counts


def _reports(outputs: list[DetectorOutput], counts: AnalysisCounts) -> Iterator[RepReport]:
    for output in outputs:
        if isinstance(output, RepReport):
            counts.reports += 1
            yield output
