"""Members, for admins: register, rename, look up. Members first seen at a machine appear here
on their own."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from gymfloor.api.deps import AdminToken, Cursor, Limit, ReadDb, WriteDb
from gymfloor.contract.topics import ID_PATTERN
from gymfloor.storage.members import add_member, get_member, page_members
from gymfloor.storage.models import Member
from gymfloor.storage.pagination import Page

router = APIRouter(prefix="/v1/members", tags=["admin"])

MemberId = Annotated[str, Path(pattern=f"^{ID_PATTERN.pattern}$")]


class NewMember(BaseModel):
    member_id: str = Field(pattern=f"^{ID_PATTERN.pattern}$", examples=["m-1042"])
    display_name: str | None = Field(None, max_length=200)


@router.get("", response_model=Page[Member])
def members(
    token: AdminToken, db: ReadDb, cursor: Cursor = None, limit: Limit = 100
) -> Page[Member]:
    """Members by id."""
    return page_members(db, cursor, limit)


@router.post("", response_model=Member, status_code=status.HTTP_201_CREATED)
def register(token: AdminToken, db: WriteDb, new: NewMember) -> Member:
    """Register a member, or rename one already known."""
    return add_member(db, new.member_id, new.display_name, time.time())


@router.get("/{member_id}", response_model=Member)
def member(token: AdminToken, db: ReadDb, member_id: MemberId) -> Member:
    found = get_member(db, member_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    return found
