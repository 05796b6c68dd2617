"""What the routes share: the store, the caller's token and the gyms it sees, and the paging
parameters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection

from gymfloor.api.config import ApiConfig
from gymfloor.storage import OperationalStore
from gymfloor.storage.models import GymScope, Role, TokenInfo
from gymfloor.storage.pagination import MAX_LIMIT
from gymfloor.storage.scope import sees
from gymfloor.storage.tokens import authenticate

log = logging.getLogger("gymfloor.api")


# Dependencies that do no I/O are `async`: FastAPI runs a plain `def` in a worker thread, and
# the hand-off costs more than they do.


async def get_store(request: Request) -> OperationalStore:
    store: OperationalStore = request.app.state.store
    return store


async def get_config(request: Request) -> ApiConfig:
    config: ApiConfig = request.app.state.config
    return config


def read_db(store: Annotated[OperationalStore, Depends(get_store)]) -> Iterator[Connection]:
    with store.read() as db:
        yield db


def write_db(store: Annotated[OperationalStore, Depends(get_store)]) -> Iterator[Connection]:
    with store.transaction() as db:
        yield db


ReadDb = Annotated[Connection, Depends(read_db)]
WriteDb = Annotated[Connection, Depends(write_db)]

# auto_error=False: a missing token is a 401 with a reason, not FastAPI's bare 403.
_bearer = HTTPBearer(auto_error=False, description="a token from `gymfloor tokens issue`")


def _token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    store: Annotated[OperationalStore, Depends(get_store)],
) -> TokenInfo:
    if credentials is None:
        raise _unauthorised("a bearer token is required")
    with store.read() as db:
        token = authenticate(db, credentials.credentials)
    if token is None:
        client = request.client.host if request.client else "unknown"
        log.warning("refused an unknown or revoked token from %s", client)
        raise _unauthorised("the token is unknown or revoked")
    return token


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"}
    )


def _role(*allowed: Role) -> object:
    async def check(token: Annotated[TokenInfo, Depends(_token)]) -> TokenInfo:
        if token.role not in allowed:
            names = " or ".join(role.value for role in allowed)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs a {names} token")
        return token

    return Depends(check)


# Admins can do whatever staff can; members only see their own data, under /v1/me.
MemberToken = Annotated[TokenInfo, _role(Role.MEMBER)]
StaffToken = Annotated[TokenInfo, _role(Role.STAFF, Role.ADMIN)]
AdminToken = Annotated[TokenInfo, _role(Role.ADMIN)]

Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; omit for the first")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
OptionalId = Annotated[str | None, Query(max_length=128, description="only this one")]
PathId = Annotated[str, Path(min_length=1, max_length=128)]
Since = Annotated[float | None, Query(description="from this time on (Unix seconds)")]
Until = Annotated[float | None, Query(description="before this time (Unix seconds)")]


def one_gym(gyms: GymScope, gym_id: str) -> frozenset[str]:
    """The gym a request names, if its token sees it. Otherwise 403, whether or not there is
    such a gym: the answer tells nothing of other gyms."""
    if not sees(gyms, gym_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token does not see gym {gym_id}")
    return frozenset({gym_id})


async def _staff_gyms(
    token: StaffToken,
    gym_id: Annotated[str | None, Query(max_length=128, description="only this gym")] = None,
) -> GymScope:
    return token.gyms if gym_id is None else one_gym(token.gyms, gym_id)


# What a staff read may see: the gym it names in `gym_id`, or all those its token sees.
StaffGyms = Annotated[GymScope, Depends(_staff_gyms)]
