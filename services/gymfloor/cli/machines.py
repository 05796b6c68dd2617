"""`gymfloor machines add|list|remove`: the machine registry, administered on the store
directly."""

from __future__ import annotations

import argparse
import time
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import add_command, log, print_all
from gymfloor.cli.flags import add_store_flags, identifier

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    machines = subparsers.add_parser(
        "machines", help="register machines and their broker logins; renew, list and remove them"
    )
    actions = machines.add_subparsers(
        title="actions", required=True, metavar="ACTION", dest="action"
    )
    add = add_command(
        actions,
        "add",
        run,
        help="register a machine and print its broker password alone on stdout",
        description="Register a machine of a gym and print its new broker password, alone, on "
        "stdout: it is stored hashed and cannot be shown again. The machine logs in as "
        "GYM.MACHINE. With GYMFLOOR_INGEST__REQUIRE_REGISTERED, ingest accepts only registered "
        "machines, within seconds of their registration.",
    )
    password = add_command(
        actions,
        "password",
        run,
        help="print a new broker password for a registered machine, alone on stdout",
        description="Replace a registered machine's broker password and print the new one, "
        "alone, on stdout. The machine stays registered throughout; the broker takes the new "
        "password when its password file is rewritten (docs/DEPLOY.md).",
    )
    remove = add_command(
        actions, "remove", run, help="withdraw a machine's registration and its login"
    )
    for action in (add, password, remove):
        action.add_argument("gym_id", type=identifier, help="the machine's gym")
        action.add_argument("machine_id", type=identifier, help="the machine's id")
        add_store_flags(action)
    add_store_flags(
        add_command(actions, "list", run, help="list registered machines, without secrets")
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    action = {"add": _add, "password": _password, "remove": _remove, "list": _list}[args.action]
    return action(args, settings)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.registry import AlreadyRegistered, login_of, register_machine

    try:
        with closing(wiring.open_store(settings)) as store, store.transaction() as db:
            password = register_machine(db, args.gym_id, args.machine_id, time.time())
    except AlreadyRegistered as exc:
        log.error(
            "machine %s is registered already; `machines password` gives it a new password", exc
        )
        return 1
    log.info("registered machine %s", login_of(args.gym_id, args.machine_id))
    print(password)
    return 0


def _password(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.registry import login_of, renew_password

    login = login_of(args.gym_id, args.machine_id)
    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        password = renew_password(db, args.gym_id, args.machine_id)
    if password is None:
        log.error("machine %s is not registered; `machines add` it", login)
        return 1
    log.info("new broker password for machine %s", login)
    print(password)
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.registry import login_of, remove_machine

    login = login_of(args.gym_id, args.machine_id)
    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        removed = remove_machine(db, args.gym_id, args.machine_id)
    if not removed:
        log.error("machine %s is not registered", login)
        return 1
    log.info("removed machine %s", login)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.registry import page_registered

    with closing(wiring.open_store(settings)) as store, store.read() as db:
        print_all(lambda cursor: page_registered(db, cursor, 500))
    return 0
