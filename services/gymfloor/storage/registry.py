"""The machine registry: which machines may feed ingest, and their broker logins.

A machine logs in to the broker as `{gym}.{machine}` (ids hold no dots, so the name is never
ambiguous), and the broker's ACL lets that login speak only for that machine of that gym
(deploy/mosquitto/init-auth, deploy/nats/init-auth). The password is shown once, when the machine
is registered; the store keeps it hashed the way mosquitto_passwd does (PBKDF2-SHA512, `$7$`), so
a broker's password file can take the hash as it is.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from gymfloor.contract import MachineKey
from gymfloor.storage import schema
from gymfloor.storage.models import RegisteredMachine
from gymfloor.storage.pagination import Page, keyset, page

_registered = schema.registered_machines

LOGIN_SEPARATOR = "."
PBKDF2_ITERATIONS = 101
"""mosquitto_passwd's own count: the password is 32 random characters, not a person's choice,
so stretching adds nothing but CPU at every login of a reconnecting floor."""


class AlreadyRegistered(Exception):
    """The machine is registered already; its password cannot be shown again."""


def login_of(gym_id: str, machine_id: str) -> str:
    return f"{gym_id}{LOGIN_SEPARATOR}{machine_id}"


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """`password` hashed in mosquitto_passwd's PBKDF2-SHA512 format."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def register_machine(db: Connection, gym_id: str, machine_id: str, at: float) -> str:
    """Register the machine and return its new broker password, which is stored only hashed."""
    password = _new_password()
    row = {"gym_id": gym_id, "machine_id": machine_id, "created_at": at}
    try:  # the caller's transaction fails with it: nothing else is written then
        db.execute(_registered.insert().values(**row, password_hash=mosquitto_hash(password)))
    except IntegrityError:
        raise AlreadyRegistered(login_of(gym_id, machine_id)) from None
    return password


def _new_password() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 random bits


def renew_password(db: Connection, gym_id: str, machine_id: str) -> str | None:
    """A new broker password for a registered machine, which stays registered throughout;
    None if it is not registered."""
    password = _new_password()
    updated = db.execute(
        _registered.update()
        .where(_registered.c.gym_id == gym_id, _registered.c.machine_id == machine_id)
        .values(password_hash=mosquitto_hash(password))
    )
    return password if updated.rowcount > 0 else None


def remove_machine(db: Connection, gym_id: str, machine_id: str) -> bool:
    """Withdraw the machine's registration; False if it had none."""
    deleted = db.execute(
        _registered.delete().where(
            _registered.c.gym_id == gym_id, _registered.c.machine_id == machine_id
        )
    )
    return deleted.rowcount > 0


def registered_keys(db: Connection) -> frozenset[MachineKey]:
    """Every registered machine: ingest's allow-list."""
    rows = db.execute(select(_registered.c.gym_id, _registered.c.machine_id)).all()
    return frozenset(MachineKey(row.gym_id, row.machine_id) for row in rows)


def page_registered(db: Connection, cursor: str | None, limit: int) -> Page[RegisteredMachine]:
    """By gym, then machine."""
    order = (_registered.c.gym_id, _registered.c.machine_id)
    rows = db.execute(keyset(select(_registered), order, cursor, limit, descending=False)).all()
    return page(rows, limit, lambda r: (r.gym_id, r.machine_id), _record)


def _record(row: Any) -> RegisteredMachine:
    m = row._mapping
    return RegisteredMachine(
        gym_id=m["gym_id"],
        machine_id=m["machine_id"],
        login=login_of(m["gym_id"], m["machine_id"]),
        created_at=m["created_at"],
    )
