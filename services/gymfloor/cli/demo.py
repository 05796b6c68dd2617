"""`gymfloor demo`: the whole live system on this computer (gymfloor/demo.py runs it)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from gymfloor.cli.common import add_command, stop_on_signals
from gymfloor.cli.flags import add_members_flag, add_store_flags, setting_flag

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "demo",
        run,
        help="the whole system on this computer, with simulated machines",
        description="Start an embedded MQTT broker (unless GYMFLOOR_MQTT_URL or --mqtt-url "
        "names one), the ingest service and a few simulated leg presses with members, and show "
        "reps, live cues and staff alerts as they happen. Ctrl-C stops everything.",
    )
    command.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    command.add_argument(
        "--machines", type=int, default=3, help="leg presses (default: %(default)s)"
    )
    command.add_argument("--duration", type=float, help="stop after this many seconds")
    add_members_flag(command, default=6)
    command.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated time per real second (default: %(default)s)",
    )
    # Without these two settings the demo brings its own broker and store (gymfloor/demo.py).
    setting_flag(
        command, "--mqtt-url", "mqtt_url", "use this broker", "an embedded broker on a free port"
    )
    add_store_flags(command, data_dir_default="a new temporary directory, deleted on exit")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.demo import run_demo

    return run_demo(settings, args, stop_on_signals(), sys.stdout)
