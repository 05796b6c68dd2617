"""API tokens, for admins: issue and revoke. A token's secret is shown once, when issued."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field, model_validator

from gymfloor.api.deps import AdminToken, Cursor, Limit, ReadDb, WriteDb
from gymfloor.contract.topics import ID_PATTERN
from gymfloor.storage.models import Role, TokenInfo
from gymfloor.storage.pagination import Page
from gymfloor.storage.tokens import issue_token, page_tokens, revoke_token

router = APIRouter(prefix="/v1/tokens", tags=["admin"])


GymId = Annotated[str, Field(pattern=f"^{ID_PATTERN.pattern}$")]


class NewToken(BaseModel):
    role: Role
    member_id: str | None = Field(
        None, pattern=f"^{ID_PATTERN.pattern}$", description="required for, and only for, member"
    )
    # A bound on what one request may ask for; a chain of more gyms has all_gyms tokens.
    gym_ids: list[GymId] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="staff: the gyms the token sees (or all_gyms)",
        examples=[["g1"]],
    )
    all_gyms: bool = Field(False, description="staff: every gym, those to come too")
    label: str | None = Field(None, max_length=200, examples=["front desk tablet"])

    @model_validator(mode="after")
    def _member_only_for_members(self) -> NewToken:
        if (self.role is Role.MEMBER) != (self.member_id is not None):
            raise ValueError("member_id is required for a member token and not allowed otherwise")
        return self

    @model_validator(mode="after")
    def _gyms_for_staff(self) -> NewToken:
        # A staff token of every gym is asked for by name, never had by leaving gym_ids out.
        if self.role is Role.STAFF and (self.gym_ids is None) == (not self.all_gyms):
            raise ValueError("a staff token needs gym_ids or all_gyms, not both")
        if self.role is not Role.STAFF and (self.gym_ids is not None or self.all_gyms):
            raise ValueError("gym_ids and all_gyms are for staff tokens only")
        return self


class IssuedToken(BaseModel):
    token: str = Field(description="the bearer token; it cannot be shown again")
    info: TokenInfo


@router.get("", response_model=Page[TokenInfo])
def tokens(
    token: AdminToken, db: ReadDb, cursor: Cursor = None, limit: Limit = 100
) -> Page[TokenInfo]:
    """Tokens, newest first, without their secrets."""
    return page_tokens(db, cursor, limit)


@router.post("", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def issue(token: AdminToken, db: WriteDb, new: NewToken) -> IssuedToken:
    info, secret = issue_token(db, new.role, new.member_id, new.label, time.time(), new.gym_ids)
    return IssuedToken(token=secret, info=info)


@router.delete("/{token_id}", response_model=TokenInfo)
def revoke(
    token: AdminToken, db: WriteDb, token_id: Annotated[str, Path(max_length=32)]
) -> TokenInfo:
    """Revoke a token at once; it is refused from the next request on."""
    revoked = revoke_token(db, token_id, time.time())
    if revoked is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token")
    return revoked
