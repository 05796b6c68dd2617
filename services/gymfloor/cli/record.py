"""`gymfloor record` and `gymfloor replay`: live traffic to a recording, and back."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING

from gymfloor.cli.common import add_command, output, stop_on_signals
from gymfloor.cli.flags import STDIN, add_mqtt_flags, check_recording

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    record = add_command(
        subparsers,
        "record",
        run,
        help="capture live traffic to a recording",
        description="Write the machines' telemetry, session and status messages, as received, "
        "to a recording (JSON Lines, docs/CONTRACT.md section 6) until Ctrl-C, SIGTERM or --count.",
    )
    record.add_argument("-o", "--output", type=Path, help="recording file (default: stdout)")
    record.add_argument("--count", type=int, help="stop after this many messages")
    record.add_argument(
        "--all", action="store_true", help="everything under gymfloor/v1/, outputs included"
    )
    add_mqtt_flags(record)

    replay = add_command(
        subparsers,
        "replay",
        run,
        help="publish a recording to the broker",
        description="Publish a recording's messages, in order, at QoS 1, paced as they were "
        "recorded. Exits once the broker has acknowledged every message.",
    )
    replay.add_argument("recording", type=Path, help="recording file, or - for stdin")
    replay.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="1 real time, 10 ten times faster, 0 at once (default: %(default)s)",
    )
    add_mqtt_flags(replay)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return _record(args, settings) if args.command == "record" else _replay(args, settings)


def _record(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.recorder import record

    stopping = stop_on_signals()
    with output(args.output) as sink:
        record(settings.mqtt, sink, stopping, everything=args.all, count=args.count)
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.recorder import replay

    check_recording(args.recording)
    stopping = stop_on_signals()
    with ExitStack() as stack:
        source: IO[bytes] = (
            sys.stdin.buffer
            if args.recording == STDIN
            else stack.enter_context(args.recording.open("rb"))
        )
        replay(settings.mqtt, source, args.speed, stopping)
    return 0
