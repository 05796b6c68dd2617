"""The `gymfloor` command: one module per command, each with `add_parser` and `run`.

Every command goes the same way: parse the flags; read the settings from the environment and lay
the flags over them (cli/flags.py), validated as a whole; only then run, and a command checks
the rest of its input (files, flags that go together) before it builds anything. Any of those
refusals is a usage error: the reason with the command's usage on stderr, exit status 2.

Command modules import what they need to run (SQLAlchemy, paho, FastAPI, …) in `run`, so that
`gymfloor analyze` does not pay for the live commands' imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

import pydantic

from gymfloor import __version__
from gymfloor.cli import (
    analyze,
    api,
    check,
    demo,
    edge,
    ingest,
    machines,
    members,
    record,
    reps,
    simulate,
    store,
    timeseries,
    tokens,
    webhooks,
)
from gymfloor.cli.common import ReadSettings, Run, UsageError
from gymfloor.cli.flags import read_settings, setting_flag, with_flags
from gymfloor.contract.payloads import describe_error
from gymfloor.logs import configure_logging

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers


class Command(Protocol):
    """What each command module provides."""

    def add_parser(self, subparsers: Subparsers) -> None: ...

    def run(self, args: argparse.Namespace, settings: Any) -> int: ...


COMMANDS: tuple[Command, ...] = (
    analyze,
    simulate,
    ingest,
    edge,
    record,
    reps,
    api,
    tokens,
    members,
    machines,
    webhooks,
    timeseries,
    store,
    check,
    demo,
)
"""In the order `gymfloor --help` lists them."""


def main(argv: list[str] | None = None) -> int:
    # Each command's parser leaves the flags it does not know to the top-level one, which would
    # refuse them with its own usage; the usage that helps is the command's.
    args, unknown = parser().parse_known_args(argv)
    command: argparse.ArgumentParser = args.parser
    if unknown:
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    read: ReadSettings = args.read_settings or read_settings
    try:
        settings = read({})
    except pydantic.ValidationError as exc:
        command.error(f"invalid GYMFLOOR_* environment variable: {describe_error(exc)}")
    try:
        settings = with_flags(settings, args, read)
    except pydantic.ValidationError as exc:
        command.error(f"invalid setting: {describe_error(exc)}")
    configure_logging(settings.log_level, settings.log_format)
    run: Run = args.run
    try:
        return run(args, settings)
    except UsageError as exc:
        command.error(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `gymfloor analyze rec.jsonl | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="gymfloor",
        description="Leg press form monitoring: rep segmentation and fault detection "
        "(lumbar lift-off, excessive range of motion, uncontrolled descent) from machine "
        "telemetry. Settings come from GYMFLOOR_* environment variables; flags override them.",
    )
    top.add_argument("--version", action="version", version=f"gymfloor {__version__}")
    setting_flag(top, "--log-level", "log_level", "DEBUG, INFO, WARNING or ERROR")
    commands = top.add_subparsers(
        title="commands", required=True, metavar="COMMAND", dest="command"
    )
    for module in COMMANDS:
        module.add_parser(commands)
    return top
