"""`gymfloor edge`: the edge agent of one machine."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from gymfloor.cli.common import UsageError, add_command, stop_on_signals
from gymfloor.cli.flags import add_mqtt_flags, add_store_flags, check_recording, setting_flag
from gymfloor.contract import ID_PATTERN, MachineKey

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings
    from gymfloor_edge.driver import SensorDriver

OUTBOX_FILE = "edge-{gym}-{machine}.outbox"
"""The agent's store-and-forward file in the data directory, unless --outbox names one."""
DEFAULT_SEED = 1
"""The simulated members' seed when no source is given. (Not argparse's default: that would
hide `--simulate 1` from the check that the sources exclude one another.)"""


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "edge",
        run,
        help="run the edge agent of one machine",
        description="Read a machine's sensors through a driver, batch the samples, and publish "
        "telemetry, session events and presence over MQTT, buffering on disk while the broker "
        "is unreachable. docs/EDGE.md explains the driver interface.",
    )
    setting_flag(command, "--gym", "edge.gym_id", "gym id")
    setting_flag(command, "--machine", "edge.machine_id", "machine id")
    source = command.add_mutually_exclusive_group()
    source.add_argument(
        "--simulate",
        type=int,
        metavar="SEED",
        help="simulated members from this random seed, the source unless another is given "
        f"(default: {DEFAULT_SEED})",
    )
    source.add_argument(
        "--replay", type=Path, metavar="FILE", help="play one machine of a recording"
    )
    source.add_argument(
        "--driver", metavar="MODULE:FACTORY", help="a vendor's driver: FACTORY() returns it"
    )
    command.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="playback speed of --simulate/--replay (default: %(default)s)",
    )
    setting_flag(
        command,
        "--batch-interval",
        "edge.batch_interval_s",
        "seconds per batch",
        type=float,
    )
    default_outbox = OUTBOX_FILE.format(gym="GYM", machine="MACHINE")
    command.add_argument(
        "--outbox", type=Path, help=f"store-and-forward file (default: DATA_DIR/{default_outbox})"
    )
    add_mqtt_flags(command)
    add_store_flags(command, db=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor_edge.agent import EdgeAgent
    from gymfloor_edge.outbox import Outbox
    from gymfloor_edge.uplink import Uplink

    edge = settings.edge
    machine = MachineKey(edge.gym_id, edge.machine_id)
    for name, value in (("gym", machine.gym_id), ("machine", machine.machine_id)):
        if not ID_PATTERN.fullmatch(value):
            raise UsageError(f"{name} id {value!r} must match {ID_PATTERN.pattern}")
    driver = _driver(args, machine.machine_id)
    outbox_path = args.outbox or settings.data_dir / OUTBOX_FILE.format(
        gym=machine.gym_id, machine=machine.machine_id
    )
    uplink = Uplink(
        settings.mqtt,
        f"gymfloor-edge-{machine.gym_id}-{machine.machine_id}",
        Outbox(outbox_path, edge.outbox_max_messages),
        machine=machine,
    )
    EdgeAgent(machine, driver, uplink, edge.batch_interval_s).run(stop_on_signals())
    return 0


def _driver(args: argparse.Namespace, machine_id: str) -> SensorDriver:
    """The machine's sensors, as the flags choose them: a recording, a vendor's driver, or
    simulated members."""
    from gymfloor_edge.sources import recording_driver, simulated_driver

    if args.replay:
        check_recording(args.replay)
        try:
            return recording_driver(args.replay, machine_id, args.speed)
        except LookupError as exc:
            raise UsageError(str(exc)) from None
    if args.driver:
        try:
            return _load_driver(args.driver)
        except (ImportError, AttributeError, TypeError) as exc:
            raise UsageError(f"cannot load the driver {args.driver}: {exc}") from None
    seed = DEFAULT_SEED if args.simulate is None else args.simulate
    return simulated_driver(seed, machine_id, args.speed)


def _load_driver(spec: str) -> SensorDriver:
    """`package.module:factory`, where factory() returns a SensorDriver."""
    module_name, _, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute or "driver")
    driver: SensorDriver = factory()
    return driver
