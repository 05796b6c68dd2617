"""Members: registered by an admin, or first seen checking in to a machine."""

from __future__ import annotations

from sqlalchemy import Connection, select

from gymfloor.storage import schema
from gymfloor.storage.models import Member
from gymfloor.storage.pagination import Page, keyset, page

_members = schema.members


def add_member(db: Connection, member_id: str, display_name: str | None, at: float) -> Member:
    """Register a member, or rename one already known. Two requests registering the same new
    member at once both succeed: the second finds the first's row."""
    db.execute(
        schema.conflict_insert(db.dialect.name, _members)
        .values(member_id=member_id, display_name=display_name, created_at=at)
        .on_conflict_do_nothing()
    )
    if display_name is not None:
        db.execute(
            _members.update()
            .where(_members.c.member_id == member_id)
            .values(display_name=display_name)
        )
    member = get_member(db, member_id)
    assert member is not None
    return member


def get_member(db: Connection, member_id: str) -> Member | None:
    row = db.execute(select(_members).where(_members.c.member_id == member_id)).first()
    return None if row is None else Member.model_validate(row._mapping)


def page_members(db: Connection, cursor: str | None, limit: int) -> Page[Member]:
    """By member id."""
    query = keyset(select(_members), (_members.c.member_id,), cursor, limit, descending=False)
    rows = db.execute(query).all()
    return page(rows, limit, lambda r: (r.member_id,), lambda r: Member.model_validate(r._mapping))
