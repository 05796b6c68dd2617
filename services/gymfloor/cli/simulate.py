"""`gymfloor simulate`: simulated leg presses, as a recording with ground truth or live."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from gymfloor.cli.common import add_command, log, output, stop_on_signals
from gymfloor.cli.flags import add_mqtt_flags, add_simulation_flags

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "simulate",
        run,
        help="write a recording of simulated leg presses, with ground truth",
        description="Simulate members on several leg presses (sets, rests, foot adjustments, "
        "every fault alone and combined, sensor noise, dropped and repeated batches) and "
        "write the recording, and optionally the true reps as JSON Lines.",
    )
    command.add_argument("-o", "--output", type=Path, help="recording file (default: stdout)")
    command.add_argument("--labels", type=Path, help="also write the true reps here")
    add_simulation_flags(command, machines=3, visits=2)
    command.add_argument(
        "--perfect", action="store_true", help="no noise, drop-outs, lost or repeated batches"
    )
    command.add_argument(
        "--live",
        action="store_true",
        help="publish to the broker in real time instead, until stopped (Ctrl-C)",
    )
    command.add_argument("--gym", default="g1", help="gym id for --live (default: %(default)s)")
    add_mqtt_flags(command)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.live:
        from gymfloor_edge.fleet import run_fleet

        stopping = stop_on_signals()
        run_fleet(settings.mqtt, args.gym, args.machines, args.seed, stopping, members=args.members)
        return 0
    from gymfloor.contract import encode_line
    from gymfloor_edge.simulator import Imperfections, SimulationPlan, simulate

    plan = SimulationPlan(
        seed=args.seed,
        machines=args.machines,
        visits=args.visits,
        members=args.members,
        imperfections=Imperfections.none() if args.perfect else Imperfections(),
    )
    simulation = simulate(plan)
    with output(args.output) as sink:
        for message in simulation.messages:
            sink.write(encode_line(message.topic, message.payload, round(message.t, 4)) + "\n")
    if args.labels:
        with args.labels.open("w") as labels:
            for label in simulation.labels:
                labels.write(json.dumps(label.to_dict()) + "\n")
    log.info("simulated %d messages, %d reps", len(simulation.messages), len(simulation.labels))
    return 0
