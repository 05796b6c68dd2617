"""Keeping a read to the gyms its reader may see: every read of the floor goes through here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select

from gymfloor.storage.models import GymScope


def within(query: Select[Any], gym_id: ColumnElement[str], gyms: GymScope) -> Select[Any]:
    """`query` kept to the rows whose `gym_id` is one of `gyms`."""
    return query if gyms is None else query.where(gym_id.in_(sorted(gyms)))


def sees(gyms: GymScope, gym_id: str | None) -> bool:
    """Whether a reader of `gyms` may see a row of `gym_id` (None: a row of no known gym)."""
    return gyms is None or gym_id in gyms
