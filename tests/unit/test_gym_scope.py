"""Which gyms a token sees, and which a request may name: the rule every staff read keeps."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from gymfloor.api.deps import one_gym
from gymfloor.storage.models import Role, TokenInfo
from gymfloor.storage.scope import sees


def token(role: Role, all_gyms: bool, gym_ids: list[str]) -> TokenInfo:
    member = "m-1" if role is Role.MEMBER else None
    return TokenInfo(
        id="t",
        role=role,
        member_id=member,
        all_gyms=all_gyms,
        gym_ids=gym_ids,
        label=None,
        created_at=1.0,
        revoked_at=None,
    )


def test_a_token_sees_its_gyms_every_gym_or_none() -> None:
    assert token(Role.STAFF, False, ["g1", "g2"]).gyms == {"g1", "g2"}
    assert token(Role.STAFF, True, []).gyms is None
    assert token(Role.ADMIN, True, []).gyms is None
    assert token(Role.MEMBER, False, []).gyms == frozenset()  # no floor: their own data only


def test_a_row_is_seen_only_within_the_gyms() -> None:
    assert sees(None, "g9") and sees(frozenset({"g1"}), "g1")
    assert not sees(frozenset({"g1"}), "g2") and not sees(frozenset(), "g1")
    assert not sees(frozenset({"g1"}), None)


@pytest.mark.parametrize(
    ("gyms", "named", "allowed"),
    [
        (None, "g9", True),
        (frozenset({"g1", "g2"}), "g2", True),
        (frozenset({"g1"}), "g2", False),
        (frozenset(), "g1", False),
    ],
)
def test_a_request_may_name_only_a_gym_its_token_sees(
    gyms: frozenset[str] | None, named: str, allowed: bool
) -> None:
    if allowed:
        assert one_gym(gyms, named) == {named}
    else:
        with pytest.raises(HTTPException) as refused:
            one_gym(gyms, named)
        assert refused.value.status_code == 403
