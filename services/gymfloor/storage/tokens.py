"""API tokens. Only a SHA-256 hash of each is stored: the token itself is shown once, when it is
issued. Tokens are 256 random bits, so a fast hash is enough; a slow password hash would only
slow every request."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Connection, select

from gymfloor.storage import schema
from gymfloor.storage.members import add_member
from gymfloor.storage.models import Role, TokenInfo
from gymfloor.storage.pagination import Page, keyset, page

_tokens = schema.api_tokens
PREFIX = "gf"


def issue_token(
    db: Connection, role: Role, member_id: str | None, label: str | None, at: float
) -> tuple[TokenInfo, str]:
    """A new token and its secret. The id is public; the secret is the whole token. A member
    token registers its member if the store does not know them yet."""
    if (role is Role.MEMBER) != (member_id is not None):
        raise ValueError("a member token needs a member id, and only a member token has one")
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
        )
    )
    info = get_token(db, token_id)
    assert info is not None
    return info, secret


def authenticate(db: Connection, secret: str) -> TokenInfo | None:
    """The live token with this secret, or None."""
    query = select(_tokens).where(
        _tokens.c.secret_hash == _hash(secret), _tokens.c.revoked_at.is_(None)
    )
    row = db.execute(query).first()
    return None if row is None else TokenInfo.model_validate(row._mapping)


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
    return None if row is None else TokenInfo.model_validate(row._mapping)


def page_tokens(db: Connection, cursor: str | None, limit: int) -> Page[TokenInfo]:
    """Newest first."""
    order = (_tokens.c.created_at, _tokens.c.id)
    rows = db.execute(keyset(select(_tokens), order, cursor, limit)).all()
    return page(
        rows, limit, lambda r: (r.created_at, r.id), lambda r: TokenInfo.model_validate(r._mapping)
    )


def token_id_of(id_or_token: str) -> str:
    """A token's id, given the id or the whole token."""
    parts = id_or_token.split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == PREFIX else id_or_token


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
