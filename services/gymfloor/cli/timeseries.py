"""`gymfloor timeseries tokens`: the least-privilege InfluxDB tokens of ingest and Grafana, made
with the admin token of the settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gymfloor.cli.common import UsageError, add_command, log
from gymfloor.storage.timeseries.tokens import READERS

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    timeseries = subparsers.add_parser(
        "timeseries", help="administer the InfluxDB that ingest writes and Grafana reads"
    )
    actions = timeseries.add_subparsers(
        title="actions", required=True, metavar="ACTION", dest="action"
    )
    tokens = add_command(
        actions,
        "tokens",
        run,
        help="make ingest's write-only and Grafana's read-only InfluxDB tokens",
        description="Make a write-only token for ingest and a read-only one for Grafana, each "
        "limited to the bucket GYMFLOOR_INFLUX__BUCKET, with the admin token "
        "GYMFLOOR_INFLUX__TOKEN. Each goes to DIRECTORY/<reader>/token (mode 0400) beside its "
        "id; ingest reads its own through GYMFLOOR_INFLUX__TOKEN_FILE. Tokens that still "
        "exist are kept, so running it again changes nothing; --rotate replaces both and "
        "deletes the old ones. On InfluxDB 2 these are API tokens; on 1.x, users with a WRITE "
        "or READ grant, whose token is user:password (the admin token too).",
    )
    tokens.add_argument("directory", type=Path, help="where each reader's directory goes")
    tokens.add_argument(
        "--rotate", action="store_true", help="replace both tokens and delete the old ones"
    )
    tokens.add_argument(
        "--owner",
        action="append",
        default=[],
        metavar="READER=UID",
        type=_owner,
        help="give a reader's files to a user id (its container's), e.g. grafana=472; repeatable",
    )


def _owner(text: str) -> tuple[str, int]:
    reader, _, uid = text.partition("=")
    names = [r.name for r in READERS]
    if reader not in names or not uid.isdigit():
        raise argparse.ArgumentTypeError(f"expected READER=UID, READER one of {', '.join(names)}")
    return reader, int(uid)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.timeseries.tokens import (
        TokenError,
        credentials_for,
        ensure_tokens,
        refusals_as_token_errors,
    )

    influx = settings.influx
    if influx.url is None or influx.token is None:
        raise UsageError("set GYMFLOOR_INFLUX__URL and the admin token GYMFLOOR_INFLUX__TOKEN")
    try:
        credentials = credentials_for(
            influx.url, influx.token.get_secret_value(), influx.org, influx.bucket, influx.timeout_s
        )
        with refusals_as_token_errors():
            owners = dict(args.owner)
            outcomes = ensure_tokens(credentials, args.directory, owners, rotate=args.rotate)
    except TokenError as exc:
        log.error("%s", exc)
        return 1
    for outcome in outcomes:
        reader = outcome.reader
        log.info(
            "%s's %s-only token: %s (%s)",
            reader.name,
            reader.privilege,
            outcome.action,
            args.directory / reader.name,
        )
    return 0
