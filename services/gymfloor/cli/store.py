"""`gymfloor store upgrade`: the operational store's schema, brought up to date alone."""

from __future__ import annotations

import argparse
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import add_command, log
from gymfloor.cli.flags import add_store_flags

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    store = subparsers.add_parser("store", help="the operational store's schema")
    actions = store.add_subparsers(title="actions", required=True, metavar="ACTION")
    upgrade = add_command(
        actions,
        "upgrade",
        run,
        help="create the store, or bring its schema up to date, and exit",
        description="Create the operational store if there is none, or migrate its schema to "
        "the newest revision this version knows, then exit. Ingest and the API do the same "
        "when they open the store; running this first, alone, spares two processes migrating "
        "a new store at once (the compose file's store-init service). Migrations only go "
        "forward: back the store up before an upgrade.",
    )
    add_store_flags(upgrade)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage import migrate

    with closing(wiring.open_store(settings)) as store:  # opening it migrates it
        revision, _ = migrate.revisions(store.engine)
    log.info("store schema at revision %s, the newest", revision)
    return 0
