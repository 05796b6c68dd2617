"""The `gymfloor` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import pydantic
from tqdm import tqdm

from gymfloor import __version__
from gymfloor.analyze import AnalysisCounts, analyze
from gymfloor.contract import encode_line
from gymfloor.contract.payloads import describe_error
from gymfloor.demo import print_demo
from gymfloor.detector import Detector, DetectorConfig
from gymfloor.logs import configure_logging
from gymfloor.settings import Settings, detector_env_var
from gymfloor_edge.simulator import Imperfections, Simulation, SimulationPlan, simulate

log = logging.getLogger("gymfloor")

PROGRESS_MIN_BYTES = 8 * 1024 * 1024
SKIPS_LOGGED = 50
"""Skipped lines logged one by one; past that only the count, so a broken file can't flood."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        parser.error(f"invalid GYMFLOOR_* environment variable: {describe_error(exc)}")
    configure_logging(args.log_level or settings.log_level, settings.log_format)
    try:
        return args.run(args, settings)
    except pydantic.ValidationError as exc:
        parser.error(f"invalid setting: {describe_error(exc, whole='thresholds')}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `gymfloor analyze rec.jsonl | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gymfloor",
        description="Leg press form monitoring: rep segmentation and fault detection "
        "(lumbar lift-off, excessive range of motion, uncontrolled descent) from machine "
        "telemetry. Settings come from GYMFLOOR_* environment variables; flags override them.",
    )
    parser.add_argument("--version", action="version", version=f"gymfloor {__version__}")
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING or ERROR (env GYMFLOOR_LOG_LEVEL)"
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    analyze_cmd = commands.add_parser(
        "analyze",
        help="turn a recording into rep reports",
        description="Run the detector over a recording (JSON Lines of MQTT messages, as "
        "captured by `gymfloor record` or written by `gymfloor simulate`) and write one rep "
        "report per line. Lines that are not valid messages are reported on stderr with "
        "their line number and skipped.",
    )
    analyze_cmd.add_argument("recording", type=Path, help="recording file, or - for stdin")
    analyze_cmd.add_argument("-o", "--output", type=Path, help="reports file (default: stdout)")
    _add_detector_flags(analyze_cmd)
    analyze_cmd.set_defaults(run=_run_analyze)

    simulate_cmd = commands.add_parser(
        "simulate",
        help="write a recording of simulated leg presses, with ground truth",
        description="Simulate members on several leg presses (sets, rests, foot adjustments, "
        "every fault alone and combined, sensor noise, dropped and repeated batches) and "
        "write the recording, and optionally the true reps as JSON Lines.",
    )
    simulate_cmd.add_argument("-o", "--output", type=Path, help="recording file (default: stdout)")
    simulate_cmd.add_argument("--labels", type=Path, help="also write the true reps here")
    _add_simulation_flags(simulate_cmd, machines=3, visits=2)
    simulate_cmd.add_argument(
        "--perfect", action="store_true", help="no noise, drop-outs, lost or repeated batches"
    )
    simulate_cmd.set_defaults(run=_run_simulate)

    demo_cmd = commands.add_parser(
        "demo",
        help="simulate a few sets and show their rep reports",
        description="Simulate members on a few leg presses, run them through the detector "
        "and print every rep with its faults, and each member's coaching.",
    )
    _add_simulation_flags(demo_cmd, machines=3, visits=1)
    demo_cmd.set_defaults(run=_run_demo)
    return parser


def _add_simulation_flags(command: argparse.ArgumentParser, machines: int, visits: int) -> None:
    command.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    command.add_argument(
        "--machines", type=int, default=machines, help=f"leg presses (default: {machines})"
    )
    command.add_argument(
        "--visits", type=int, default=visits, help=f"members per machine (default: {visits})"
    )


def _add_detector_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "detector thresholds", "defaults are the contract's; docs/DETECTION.md explains each"
    )
    for name, field in DetectorConfig.model_fields.items():
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"detector_{name}",
            type=float,
            metavar="X",
            help=f"{field.description} (default: {field.default}; env {detector_env_var(name)})",
        )


def detector_config(args: argparse.Namespace, settings: Settings) -> DetectorConfig:
    overrides = {
        name: getattr(args, f"detector_{name}")
        for name in DetectorConfig.model_fields
        if getattr(args, f"detector_{name}", None) is not None
    }
    return DetectorConfig(**{**settings.detector.model_dump(), **overrides})


def _run_analyze(args: argparse.Namespace, settings: Settings) -> int:
    detector = Detector(detector_config(args, settings))
    counts = AnalysisCounts()

    def on_skip(line_no: int, reason: str) -> None:
        if counts.skipped <= SKIPS_LOGGED:
            log.warning("line %d skipped: %s", line_no, reason)
        if counts.skipped == SKIPS_LOGGED:
            log.warning("further skipped lines are only counted")

    with ExitStack() as stack:
        if str(args.recording) == "-":
            source, size = sys.stdin.buffer, 0
        else:
            if not args.recording.is_file():
                log.error("no such recording: %s", args.recording)
                return 2
            source = stack.enter_context(args.recording.open("rb"))
            size = args.recording.stat().st_size
        sink = stack.enter_context(args.output.open("w")) if args.output else sys.stdout
        for report in analyze(_with_progress(source, size), detector, on_skip, counts):
            sink.write(report.model_dump_json() + "\n")
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


def _with_progress(source: IO[bytes], size: int) -> Iterator[bytes]:
    """Lines of the file, with a progress bar on stderr for large files on a terminal."""
    quiet = True if size < PROGRESS_MIN_BYTES else None  # None: tqdm shows it on a terminal only
    with tqdm(
        total=size, unit="B", unit_scale=True, desc="analyze", disable=quiet, file=sys.stderr
    ) as bar:
        for line in source:
            bar.update(len(line))
            yield line


def _simulation(args: argparse.Namespace, perfect: bool = False) -> Simulation:
    imperfections = Imperfections.none() if perfect else Imperfections()
    plan = SimulationPlan(
        seed=args.seed, machines=args.machines, visits=args.visits, imperfections=imperfections
    )
    return simulate(plan)


def _run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    simulation = _simulation(args, args.perfect)
    with ExitStack() as stack:
        sink = stack.enter_context(args.output.open("w")) if args.output else sys.stdout
        for message in simulation.messages:
            sink.write(encode_line(message.topic, message.payload, round(message.t, 4)) + "\n")
    if args.labels:
        with args.labels.open("w") as labels:
            for label in simulation.labels:
                labels.write(json.dumps(label.to_dict()) + "\n")
    log.info("simulated %d messages, %d reps", len(simulation.messages), len(simulation.labels))
    return 0


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    simulation = _simulation(args)
    print_demo(simulation.messages, Detector(settings.detector), args, sys.stdout)
    return 0
