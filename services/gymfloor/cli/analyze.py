"""`gymfloor analyze`: rep reports from a recording, offline, through the live detector."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from gymfloor.cli.common import add_command, log, output
from gymfloor.cli.flags import STDIN, add_detector_flags, check_recording, read_settings
from gymfloor.detector.config import DetectorConfig
from gymfloor.logs import LogFormat
from gymfloor.settings_names import any_setting_in_environment, known_level

if TYPE_CHECKING:
    from gymfloor.analyze import AnalysisCounts
    from gymfloor.cli.common import Subparsers
    from gymfloor.decode_ahead import Skipped
    from gymfloor.detector import Detector
    from gymfloor.settings import Settings

PROGRESS_MIN_BYTES = 8 * 1024 * 1024
SKIPS_LOGGED = 50
"""Skipped lines logged one by one; past that only the count, so a broken file can't flood."""


class AnalysisSettings(BaseModel):
    """The settings `gymfloor analyze` reads, as `Settings` has them."""

    log_level: str = "INFO"
    log_format: LogFormat = "text"
    detector: DetectorConfig = Field(default_factory=DetectorConfig)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        return known_level(level)


def read_analysis_settings(overrides: dict[str, Any]) -> AnalysisSettings | Settings:
    """The settings, and `overrides` (the flags) over them. With no GYMFLOOR_* variable set,
    pydantic-settings would find nothing to read: the defaults and the flags are the settings,
    validated the same way, and importing it and every component's settings (30-70 ms, a
    tenth of analysing 25 MB) is skipped. Otherwise the environment is read as always."""
    if any_setting_in_environment():
        return read_settings(overrides)
    return AnalysisSettings(**overrides)


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "analyze",
        run,
        read_analysis_settings,
        help="turn a recording into rep reports",
        description="Run the detector over a recording (JSON Lines of MQTT messages, as "
        "captured by `gymfloor record` or written by `gymfloor simulate`) and write one rep "
        "report per line. Lines that are not valid messages are reported on stderr with "
        "their line number and skipped.",
    )
    command.add_argument("recording", type=Path, help="recording file, or - for stdin")
    command.add_argument("-o", "--output", type=Path, help="reports file (default: stdout)")
    add_detector_flags(command)


def run(args: argparse.Namespace, settings: AnalysisSettings | Settings) -> int:
    from gymfloor.decode_ahead import can_decode_ahead, decoded_ahead, decoded_here, messages

    check_recording(args.recording)
    with ExitStack() as stack:
        if args.recording == STDIN:
            source, size = sys.stdin.buffer, 0
        else:
            source = stack.enter_context(args.recording.open("rb"))
            size = args.recording.stat().st_size
        lines = _with_progress(source, size) if _shows_progress(size) else source
        # Forked before numba is imported, the decoding runs while the kernel loads.
        if can_decode_ahead():
            decoded = messages(stack.enter_context(decoded_ahead(lines)))
        else:
            decoded = decoded_here(lines)
        detector = _loaded_detector(settings.detector)
        from gymfloor.analyze import AnalysisCounts, write_decoded

        counts = AnalysisCounts()
        sink = stack.enter_context(output(args.output))
        name = "stdin" if args.recording == STDIN else str(args.recording)
        write_decoded(decoded, sink, detector, _skip_logger(name, counts), counts)
    log.info(
        "analysed %d lines: %d messages, %d skipped, %d rep reports",
        counts.lines,
        counts.messages,
        counts.skipped,
        counts.reports,
        extra={
            "duplicates": detector.counters.duplicates,
            "abandoned_reps": detector.counters.abandoned_reps,
        },
    )
    return 0


def _loaded_detector(config: DetectorConfig) -> Detector:
    """A detector, its compiled kernel loaded. Importing numba and loading the kernel make over
    100,000 objects that live as long as the process: the collector is kept from walking them,
    over and over as they are made (0.04 s) and then at its next collection (0.07 s)."""
    gc.disable()
    try:
        from gymfloor.detector import Detector, warm_up

        warm_up()
        return Detector(config)
    finally:
        gc.freeze()
        gc.enable()


def _skip_logger(name: str, counts: AnalysisCounts) -> Callable[[int, Skipped], None]:
    """Logs a skipped line as `rec.jsonl, line 51, column 60 skipped: reason`: the recording's
    own line and column, which an editor can go to."""

    def on_skip(line_no: int, skipped: Skipped) -> None:
        if counts.skipped <= SKIPS_LOGGED:
            column = "" if skipped.column is None else f", column {skipped.column}"
            log.warning("%s, line %d%s skipped: %s", name, line_no, column, skipped.reason)
        if counts.skipped == SKIPS_LOGGED:
            log.warning("further skipped lines are only counted")

    return on_skip


def _shows_progress(size: int) -> bool:
    """A bar for large files, on a terminal; elsewhere the lines go straight to the analysis."""
    return size >= PROGRESS_MIN_BYTES and sys.stderr.isatty()


def _with_progress(source: IO[bytes], size: int) -> Iterator[bytes]:
    """Lines of the file, with a progress bar on stderr."""
    from tqdm import tqdm

    with tqdm(total=size, unit="B", unit_scale=True, desc="analyze", file=sys.stderr) as bar:
        for line in source:
            bar.update(len(line))
            yield line
