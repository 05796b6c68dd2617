"""Offline analysis: a recording in, rep reports out, through the live service's detector."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from gymfloor.contract import BadLine, ContractError, RepReport, TopicError, read_recording
from gymfloor.detector import Detector, DetectorOutput
from gymfloor.dispatch import dispatch

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
    on_skip: Callable[[int, str], None],
    counts: AnalysisCounts | None = None,
) -> Iterator[RepReport]:
    """Yield the rep reports of a recording, in the order the reps complete. A line that is
    not a valid message goes to `on_skip(line_no, reason)` and the rest is still analysed."""
    counts = counts if counts is not None else AnalysisCounts()
    for item in read_recording(lines):
        counts.lines = item.line_no
        if isinstance(item, BadLine):
            counts.skipped += 1
            on_skip(item.line_no, item.reason)
            continue
        try:
            outputs = dispatch(detector, item.topic, item.payload).outputs
        except (ContractError, TopicError) as exc:
            counts.skipped += 1
            on_skip(item.line_no, f"{item.topic}: {exc}")
            continue
        counts.messages += 1
        yield from _reports(outputs, counts)
        if counts.messages % EVICT_EVERY == 0:
            yield from _reports(detector.evict_idle(detector.clock), counts)
    yield from _reports(detector.flush(), counts)


def _reports(outputs: list[DetectorOutput], counts: AnalysisCounts) -> Iterator[RepReport]:
    for output in outputs:
        if isinstance(output, RepReport):
            counts.reports += 1
            yield output
