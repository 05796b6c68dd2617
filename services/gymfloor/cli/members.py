"""`gymfloor members add|list`: members, administered on the store directly."""

from __future__ import annotations

import argparse
import time
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import add_command, print_all
from gymfloor.cli.flags import add_store_flags, identifier

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    members = subparsers.add_parser("members", help="register and list members")
    actions = members.add_subparsers(
        title="actions", required=True, metavar="ACTION", dest="action"
    )
    add = add_command(actions, "add", run, help="register a member, or rename one already known")
    add.add_argument("member_id", type=identifier, help="the member's id")
    add.add_argument("--name", help="display name")
    add_store_flags(add)
    add_store_flags(add_command(actions, "list", run, help="list members as JSON Lines"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    return _add(args, settings) if args.action == "add" else _list(args, settings)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.members import add_member

    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        member = add_member(db, args.member_id, args.name, time.time())
    print(member.model_dump_json())
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.members import page_members

    with closing(wiring.open_store(settings)) as store, store.read() as db:
        print_all(lambda cursor: page_members(db, cursor, 500))
    return 0
