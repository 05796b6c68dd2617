"""`gymfloor check api|ingest`: health checks of a service on this host (compose runs them)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gymfloor.api.config import ApiConfig
from gymfloor.cli.common import add_command, log
from gymfloor.cli.flags import add_store_flags, setting_flag

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings

INGEST_STALE_S: float = ApiConfig.model_fields["ingest_stale_s"].default


def add_parser(subparsers: Subparsers) -> None:
    check = subparsers.add_parser(
        "check",
        help="health checks of the API and ingest",
        description="Check a service running on this host. Exit status 0 when it is healthy; "
        "1 when it is not, with the reason on stderr. The compose file's health checks run "
        "these in the service's own container, with its GYMFLOOR_* settings.",
    )
    checks = check.add_subparsers(title="checks", required=True, metavar="SERVICE", dest="service")
    api = add_command(
        checks,
        "api",
        run,
        help="the API answers GET /healthz",
        description="Healthy when the API answers GET http://127.0.0.1:PORT/healthz with 200 "
        "within 5 s.",
    )
    setting_flag(api, "--port", "api.port", "the API's port", type=int)
    ingest = add_command(
        checks,
        "ingest",
        run,
        help="ingest reported to the store lately, connected to the broker",
        description="Healthy when the status ingest writes to the store at every checkpoint, "
        "for its client id (env GYMFLOOR_INGEST__CLIENT_ID), is younger than "
        f"GYMFLOOR_API__INGEST_STALE_S (the limit /readyz applies; default {INGEST_STALE_S:g} s) "
        "and says it is "
        "connected to the broker. Unhealthy while there is no store yet; the check never "
        "creates one.",
    )
    add_store_flags(ingest)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.health import CHECKS

    problem = CHECKS[args.service](settings)
    if problem is not None:
        log.error("%s", problem)
        return 1
    return 0
