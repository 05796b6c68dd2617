"""`gymfloor api`: the HTTP API over the operational store."""

from __future__ import annotations

import argparse
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import add_command, stop_on_signals
from gymfloor.cli.flags import add_store_flags, setting_flag

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "api",
        run,
        help="serve the HTTP API (members, staff, admin)",
        description="Serve the API over the operational store: members' reports, the staff "
        "feed and machines, admin of members and tokens, and /healthz, /readyz, /metrics. "
        "OpenAPI docs at /docs. SIGTERM or Ctrl-C stops it after the requests in flight.",
    )
    setting_flag(command, "--host", "api.host", "address to listen on")
    setting_flag(command, "--port", "api.port", "port", type=int)
    setting_flag(command, "--workers", "api.workers", "server processes", type=int)
    add_store_flags(command)


def run(args: argparse.Namespace, settings: Settings) -> int:
    with closing(wiring.open_store(settings)) as store:
        return 0 if wiring.serve_api(settings, store, stop_on_signals()) else 1
