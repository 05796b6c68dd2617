"""`gymfloor tokens issue|revoke|list`: API tokens, administered on the store directly."""

from __future__ import annotations

import argparse
import time
from contextlib import closing
from typing import TYPE_CHECKING

from gymfloor import wiring
from gymfloor.cli.common import UsageError, add_command, log, print_all
from gymfloor.cli.flags import add_store_flags, identifier

if TYPE_CHECKING:
    from gymfloor.cli.common import Subparsers
    from gymfloor.settings import Settings


def add_parser(subparsers: Subparsers) -> None:
    tokens = subparsers.add_parser("tokens", help="issue, list and revoke API tokens")
    actions = tokens.add_subparsers(title="actions", required=True, metavar="ACTION", dest="action")
    issue = add_command(
        actions,
        "issue",
        run,
        help="issue a token and print it alone on stdout",
        description="Issue an API token and print it, alone, on stdout: it is stored hashed "
        "and cannot be shown again. A member token registers the member if unknown. A staff "
        "token sees the gyms it is issued for (--gym, once per gym), or every gym "
        "(--all-gyms); an admin token sees every gym.",
    )
    issue.add_argument("--role", required=True, choices=["member", "staff", "admin"])
    issue.add_argument("--member", type=identifier, help="the member's id (member tokens only)")
    gyms = issue.add_mutually_exclusive_group()
    gyms.add_argument(
        "--gym",
        dest="gyms",
        action="append",
        type=identifier,
        metavar="GYM",
        help="a gym the staff token sees; repeat for more",
    )
    gyms.add_argument(
        "--all-gyms", action="store_true", help="the staff token sees every gym, those to come too"
    )
    issue.add_argument("--label", help="what the token is for, e.g. 'front desk tablet'")
    add_store_flags(issue)
    revoke = add_command(
        actions,
        "revoke",
        run,
        help="revoke a token",
        description="Revoke a token by its id (see `list`).",
    )
    revoke.add_argument("token_id", help="the token's id, or the whole token")
    add_store_flags(revoke)
    add_store_flags(add_command(actions, "list", run, help="list tokens, without secrets"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    action = {"issue": _issue, "revoke": _revoke, "list": _list}[args.action]
    return action(args, settings)


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.models import Role
    from gymfloor.storage.tokens import issue_token

    if (args.role == "member") != (args.member is not None):
        raise UsageError("--member is required for, and only for, --role member")
    # Which gyms a staff token sees is always said: leaving it out never means every gym.
    if args.role == "staff" and args.gyms is None and not args.all_gyms:
        raise UsageError("--role staff needs --gym (once per gym) or --all-gyms")
    if args.role != "staff" and (args.gyms is not None or args.all_gyms):
        raise UsageError("--gym and --all-gyms are for --role staff only")
    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        info, secret = issue_token(
            db, Role(args.role), args.member, args.label, time.time(), args.gyms
        )
    gyms = "every gym" if info.all_gyms else ", ".join(info.gym_ids)  # none: a member's
    log.info("issued %s token %s%s", info.role.value, info.id, f" for {gyms}" if gyms else "")
    print(secret)
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.tokens import revoke_token, token_id_of

    with closing(wiring.open_store(settings)) as store, store.transaction() as db:
        revoked = revoke_token(db, token_id_of(args.token_id), time.time())
    if revoked is None:
        log.error("no token with id %s", args.token_id)
        return 1
    log.info("revoked token %s (%s)", revoked.id, revoked.role.value)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.tokens import page_tokens

    with closing(wiring.open_store(settings)) as store, store.read() as db:
        print_all(lambda cursor: page_tokens(db, cursor, 500))
    return 0
