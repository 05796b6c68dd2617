"""`gymfloor webhooks add|list|remove|secret|retry`: each gym's alert webhooks, administered on
the store directly (docs/WEBHOOKS.md)."""

from __future__ import annotations

import argparse
import time
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import UsageError, add_command, log, print_all
from gymfloor.cli.flags import add_store_flags, identifier
from gymfloor.contract import Severity

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    webhooks = subparsers.add_parser(
        "webhooks", help="send a gym's staff alerts to HTTP webhooks; list and remove them"
    )
    actions = webhooks.add_subparsers(
        title="actions", required=True, metavar="ACTION", dest="action"
    )
    add = add_command(
        actions,
        "add",
        run,
        help="add a webhook for a gym's alerts and print its signing secret alone on stdout",
        description="Send the gym's staff alerts, and their acknowledgements, to URL (http or "
        "https; private addresses are allowed). Prints the webhook's signing secret, alone, on "
        "stdout; the id goes to the log. Each delivery is signed with it (HMAC-SHA256; "
        "docs/WEBHOOKS.md shows how a receiver checks it).",
    )
    add.add_argument("gym_id", type=identifier, help="the gym whose alerts go there")
    add.add_argument("url", help="where to POST them")
    add.add_argument(
        "--min-severity",
        type=Severity,
        choices=list(Severity),
        help="send only alerts of this severity or higher (default: every alert)",
    )
    remove = add_command(
        actions, "remove", run, help="remove a webhook and the deliveries it still had waiting"
    )
    secret = add_command(
        actions,
        "secret",
        run,
        help="give a webhook a new signing secret and print it alone on stdout",
        description="Replace a webhook's signing secret and print the new one, alone, on "
        "stdout. Deliveries from now on are signed with it; a receiver that refuses them "
        "meanwhile gets them again (docs/SECURITY.md, rotation).",
    )
    retry = add_command(
        actions, "retry", run, help="send a webhook's dead-lettered deliveries again"
    )
    for action in (remove, secret, retry):
        action.add_argument("webhook_id", help="the webhook's id (see `list`)")
    for action in (add, remove, secret, retry):
        add_store_flags(action)
    add_store_flags(
        add_command(
            actions,
            "list",
            run,
            help="list webhooks, without secrets, with their pending and dead-lettered deliveries",
        )
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    action = {
        "add": _add,
        "list": _list,
        "remove": _remove,
        "secret": _secret,
        "retry": _retry,
    }[args.action]
    return action(args, settings)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.webhooks import InvalidWebhookUrl, add_webhook, checked_url

    try:
        checked_url(args.url)  # before the store is opened, let alone created
    except InvalidWebhookUrl as exc:
        raise UsageError(f"argument url: refused: {exc}") from None
    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        webhook_id, secret = add_webhook(db, args.gym_id, args.url, args.min_severity)
    log.info("added webhook %s for the alerts of gym %s", webhook_id, args.gym_id)
    print(secret)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.webhooks import page_webhooks

    with closing(wiring.open_store(settings)) as store, store.read() as db:
        print_all(lambda cursor: page_webhooks(db, cursor, 500))
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.webhooks import remove_webhook

    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        removed = remove_webhook(db, args.webhook_id)
    if not removed:
        log.error("no webhook %s", args.webhook_id)
        return 1
    log.info("removed webhook %s", args.webhook_id)
    return 0


def _secret(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.webhooks import renew_secret

    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        secret = renew_secret(db, args.webhook_id)
    if secret is None:
        log.error("no webhook %s", args.webhook_id)
        return 1
    log.info("new signing secret for webhook %s", args.webhook_id)
    print(secret)
    return 0


def _retry(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.outbox import retry_dead
    from gymfloor.storage.webhooks import webhook_exists

    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        if not webhook_exists(db, args.webhook_id):
            log.error("no webhook %s", args.webhook_id)
            return 1
        revived = retry_dead(db, args.webhook_id, time.time())
    log.info("webhook %s: %d dead-lettered deliveries to send again", args.webhook_id, revived)
    return 0
