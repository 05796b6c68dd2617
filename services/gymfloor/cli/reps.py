"""`gymfloor reps export`: the stored rep reports."""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import add_command, log, output
from gymfloor.cli.flags import add_store_flags

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    reps = subparsers.add_parser("reps", help="stored rep reports")
    actions = reps.add_subparsers(title="actions", required=True, metavar="ACTION")
    export = add_command(
        actions,
        "export",
        run,
        help="write the stored rep reports as JSON Lines",
        description="Write every stored rep report as JSON Lines (one report per line, "
        "docs/CONTRACT.md section 4), in the order they were stored and the form "
        "`gymfloor analyze` writes.",
    )
    export.add_argument("-o", "--output", type=Path, help="reports file (default: stdout)")
    add_store_flags(export)


def run(args: argparse.Namespace, settings: Settings) -> int:
    count = 0
    with closing(wiring.open_store(settings)) as store, output(args.output) as sink:
        for report in store.reports():
            sink.write(report.model_dump_json() + "\n")
            count += 1
    log.info("exported %d rep reports", count)
    return 0
