"""API tokens. Only a SHA-256 hash of each is stored: the token itself is shown once, when it is
issued. Tokens are 256 random bits, so a fast hash is enough; a slow password hash would only
slow every request. A staff token sees the floor of the gyms it was issued for, or of every gym;
an admin token every gym; a member token only its member's own data."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, select

from gymfloor.storage import schema
from gymfloor.storage.members import add_member
from gymfloor.storage.models import Role, TokenInfo
from gymfloor.storage.pagination import Page, keyset, page

_tokens, _gyms = schema.api_tokens, schema.api_token_gyms
PREFIX = "gf"


def issue_token(
    db: Connection,
    role: Role,
    member_id: str | None,
    label: str | None,
    at: float,
    gyms: Collection[str] | None = None,
) -> tuple[TokenInfo, str]:
    """A new token and its secret. The id is public; the secret is the whole token. A member
    token registers its member if the store does not know them yet. `gyms`: the gyms a staff
    token sees, at least one; None: every gym."""
    if (role is Role.MEMBER) != (member_id is not None):
        raise ValueError("a member token needs a member id, and only a member token has one")
    if gyms is not None and (role is not Role.STAFF or not gyms):
        raise ValueError("only a staff token is issued for gyms, and for one at least")
    if member_id is not None:
        add_member(db, member_id, None, at)
    token_id = secrets.token_hex(6)
    secret = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    db.execute(
        _tokens.insert().values(
            id=token_id,
            secret_hash=_hash(secret),
            role=role.value,
            member_id=member_id,
            label=label,
            created_at=at,
            all_gyms=role is not Role.MEMBER and gyms is None,
        )
    )
    if gyms is not None:
        db.execute(_gyms.insert(), [{"token_id": token_id, "gym_id": g} for g in sorted(set(gyms))])
    info = get_token(db, token_id)
    assert info is not None
    return info, secret


def authenticate(db: Connection, secret: str) -> TokenInfo | None:
    """The live token with this secret, or None."""
    query = select(_tokens).where(
        _tokens.c.secret_hash == _hash(secret), _tokens.c.revoked_at.is_(None)
    )
    row = db.execute(query).first()
    return None if row is None else _info(row, _gyms_of(db, [row]))


def revoke_token(db: Connection, token_id: str, at: float) -> TokenInfo | None:
    """Revoke the token; revoking it again keeps the first time. None if there is no such token."""
    db.execute(
        _tokens.update()
        .where(_tokens.c.id == token_id, _tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return get_token(db, token_id)


def get_token(db: Connection, token_id: str) -> TokenInfo | None:
    row = db.execute(select(_tokens).where(_tokens.c.id == token_id)).first()
    return None if row is None else _info(row, _gyms_of(db, [row]))


def page_tokens(db: Connection, cursor: str | None, limit: int) -> Page[TokenInfo]:
    """Newest first."""
    order = (_tokens.c.created_at, _tokens.c.id)
    rows = db.execute(keyset(select(_tokens), order, cursor, limit)).all()
    gyms = _gyms_of(db, rows[:limit])
    return page(rows, limit, lambda r: (r.created_at, r.id), lambda r: _info(r, gyms))


def token_id_of(id_or_token: str) -> str:
    """A token's id, given the id or the whole token."""
    parts = id_or_token.split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == PREFIX else id_or_token


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _gyms_of(db: Connection, rows: Sequence[Any]) -> dict[str, list[str]]:
    """The gyms of each token among `rows` that does not see them all, by token id."""
    # Only staff tokens have gyms: a member's request costs no second query.
    scoped = [row.id for row in rows if row.role == Role.STAFF.value and not row.all_gyms]
    gyms: dict[str, list[str]] = {}
    if scoped:
        query = select(_gyms).where(_gyms.c.token_id.in_(scoped)).order_by(_gyms.c.gym_id)
        for row in db.execute(query):
            gyms.setdefault(row.token_id, []).append(row.gym_id)
    return gyms


def _info(row: Any, gyms: dict[str, list[str]]) -> TokenInfo:
    return TokenInfo.model_validate({**row._mapping, "gym_ids": gyms.get(row.id, [])})
