"""Gyms: a staff token sees the floor of the gyms it was issued for, and nothing of the others.

A floor of two gyms (g1 with lp-01 and lp-02, g2 with lp-01; the same members train in both),
stored as ingest stores it and served by `gymfloor api`; tokens from `gymfloor tokens issue`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gymfloor.contract import Severity, StaffAlert
from gymfloor.outputs import Changes
from tests.support.floor import Report, stored, two_gyms
from tests.support.processes import api, gymfloor, issue_token
from tests.support.sse import connected, read_events

GYMS = ("g1", "g2")
OTHER = {"g1": "g2", "g2": "g1"}
SCOPED = {"staff_g1": "g1", "staff_g2": "g2"}  # tokens of one gym each, and their gym
SEES = {  # every token that reads the floor → the gyms it sees
    **{token: {gym} for token, gym in SCOPED.items()},
    "staff_both": {"g1", "g2"},
    "staff_all": {"g1", "g2"},
    "admin": {"g1", "g2"},
}


@dataclass
class Chain:
    data_dir: Path
    api: httpx.Client
    tokens: dict[str, str]
    reps: list[Report]  # every rep stored

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str, **params: Any) -> httpx.Response:
        return self.api.get(path, params=params, headers=self.auth(who))

    def every(self, path: str, who: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list, page after page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.get(path, who, **params, **({"cursor": cursor} if cursor else {}))
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return items


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    directory = tmp_path_factory.mktemp("gyms")
    changes = two_gyms()
    with stored(directory) as store:
        store.write(changes, keep_trace_s=600)
    tokens = {
        "staff_g1": issue_token(directory, "--role", "staff", "--gym", "g1"),
        "staff_g2": issue_token(directory, "--role", "staff", "--gym", "g2"),
        "staff_both": issue_token(directory, "--role", "staff", "--gym", "g2", "--gym", "g1"),
        "staff_all": issue_token(directory, "--role", "staff", "--all-gyms"),
        "admin": issue_token(directory, "--role", "admin"),
        "member": issue_token(directory, "--role", "member", "--member", "m-0001"),
    }
    reps = [report.model_dump(mode="json") for report in changes.reports]
    assert {r["gym_id"] for r in reps} == set(GYMS)
    with api(directory) as (base, _), httpx.Client(base_url=base, timeout=30) as client:
        yield Chain(directory, client, tokens, reps)


def key(item: dict[str, Any]) -> tuple[str, str, float]:
    return (item["gym_id"], item["machine_id"], item["t_start"])


def token_id(token: str) -> str:
    return token.split("_")[1]


# -- the matrix: each staff endpoint, asked for the token's own gym and for the other ----------


@dataclass(frozen=True)
class Read:
    """A request for one gym's data: {gym} is that gym; {alert} an open alert of it; {session}
    a session id it has (the other gym has one of that id too: ids are the machines' own).
    Asked of the other gym, the request is `refused`, or (200) a filter answers only rows of
    the token's own gym."""

    method: str
    path: str
    params: dict[str, str]
    refused: int

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.params}"


READS = [
    Read("GET", "/v1/reps", {"gym_id": "{gym}"}, 403),
    Read("GET", "/v1/reps", {"session_id": "{session}"}, 200),
    Read("GET", "/v1/alerts", {"gym_id": "{gym}"}, 403),
    Read("GET", "/v1/alerts/stream", {"gym_id": "{gym}"}, 403),
    Read("POST", "/v1/alerts/{alert}/acknowledge", {}, 404),
    Read("GET", "/v1/machines", {"gym_id": "{gym}"}, 403),
    Read("GET", "/v1/machines/{gym}/lp-01/trace", {}, 403),
]


@pytest.fixture(scope="module")
def targets(chain: Chain) -> dict[str, dict[str, str]]:
    """Per gym: what the matrix names. Its own gym acknowledges one open alert; the other gym
    tries another, which must stay open."""
    sessions = [{r["session_id"] for r in chain.reps if r["gym_id"] == g} for g in GYMS]
    shared = sorted(set.intersection(*sessions) - {None})[0]
    found = {}
    for gym in GYMS:
        open_alerts = chain.every("/v1/alerts", "staff_all", gym_id=gym, acknowledged="false")
        assert len(open_alerts) >= 2
        found[gym] = {
            "gym": gym,
            "session": shared,
            "take": open_alerts[0]["id"],
            "untouched": open_alerts[-1]["id"],
        }
    return found


@pytest.mark.parametrize("whose", ["own", "other"])
@pytest.mark.parametrize("who", sorted(SCOPED))
@pytest.mark.parametrize("read", READS, ids=str)
def test_staff_of_one_gym_get_its_data_and_nothing_of_the_others(
    chain: Chain, targets: dict[str, dict[str, str]], read: Read, who: str, whose: str
) -> None:
    gym = SCOPED[who] if whose == "own" else OTHER[SCOPED[who]]
    named = targets[gym] | {"alert": targets[gym]["take" if whose == "own" else "untouched"]}
    path = read.path.format(**named)
    params = {name: value.format(**named) for name, value in read.params.items()}
    with chain.api.stream(read.method, path, params=params, headers=chain.auth(who)) as got:
        status, media = got.status_code, got.headers["content-type"]
        streaming = status == 200 and path.endswith("/stream")  # it never ends
        body = b"" if streaming else got.read()
    if whose == "other" and read.refused != 200:
        assert status == read.refused, body
        assert json.loads(body).keys() == {"detail"}  # the reason, and no row
        if read.path.endswith("/acknowledge"):
            taken = chain.every("/v1/alerts", "staff_all", gym_id=gym, acknowledged="true")
            assert named["alert"] not in {alert["id"] for alert in taken}
        return
    assert status == 200, body
    if path.endswith("/stream"):
        assert media.startswith("text/event-stream")
        return
    answer = json.loads(body)
    items = answer.get("items", [answer])
    assert items and {item["gym_id"] for item in items} == {SCOPED[who]}
    if read.path.endswith("/acknowledge"):
        assert answer["acknowledged_by"] == token_id(chain.tokens[who])


def test_a_gym_that_does_not_exist_is_refused_as_one_that_does(chain: Chain) -> None:
    """403 for a gym the token does not see, whether it exists or not: answers tell nothing of
    other gyms."""
    there = chain.get("/v1/machines/g2/lp-01/trace", "staff_g1")
    nowhere = chain.get("/v1/machines/g9/lp-01/trace", "staff_g1")
    assert there.status_code == nowhere.status_code == 403
    assert chain.get("/v1/reps", "staff_g1", gym_id="g9").status_code == 403
    assert chain.get("/v1/machines/g9/lp-01/trace", "staff_all").status_code == 404


# -- lists keep to the token's gyms, whatever they are asked --------------------------------------


@pytest.mark.parametrize("who", sorted(SEES))
def test_each_list_serves_exactly_the_gyms_the_token_sees(chain: Chain, who: str) -> None:
    gyms = SEES[who]
    reps = chain.every("/v1/reps", who, limit=7)
    assert sorted(map(key, reps)) == sorted(key(r) for r in chain.reps if r["gym_id"] in gyms)
    machines = chain.every("/v1/machines", who, limit=1)
    everywhere = chain.every("/v1/machines", "admin")
    assert machines == [m for m in everywhere if m["gym_id"] in gyms] and machines
    alerts = chain.every("/v1/alerts", who, limit=5)
    assert alerts == [a for a in chain.every("/v1/alerts", "admin") if a["gym_id"] in gyms]
    assert {a["gym_id"] for a in alerts} == gyms


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"machine_id": "lp-01"}, lambda r: r["machine_id"] == "lp-01"),
        ({"member_id": "m-0001"}, lambda r: r["member_id"] == "m-0001"),
        ({"fault": "lumbar_liftoff"}, lambda r: "lumbar_liftoff" in r["faults"]),
    ],
    ids=["machine", "member", "fault"],
)
@pytest.mark.parametrize("who", sorted(SCOPED))
def test_filters_never_reach_into_another_gym(
    chain: Chain, who: str, params: dict[str, str], keep: Any
) -> None:
    """Both gyms have a machine lp-01, the same members and the same faults: a filter still
    finds only the token's gym."""
    everywhere = [r for r in chain.reps if keep(r)]
    assert {r["gym_id"] for r in everywhere} == set(GYMS)
    served = chain.every("/v1/reps", who, **params)
    own = [r for r in everywhere if r["gym_id"] == SCOPED[who]]
    assert sorted(map(key, served)) == sorted(map(key, own))


@pytest.mark.parametrize("path", ["/v1/reps", "/v1/machines", "/v1/alerts"])
def test_a_cursor_from_another_gyms_list_reads_only_the_tokens_gym(chain: Chain, path: str) -> None:
    """A cursor holds the last row's sort key (for machines, its gym and id): given to a token
    of another gym, it only moves where that token's list starts."""
    first = chain.get(path, "staff_g1", limit=1).json()
    assert {item["gym_id"] for item in first["items"]} == {"g1"} and first["next_cursor"]
    after = chain.get(path, "staff_g2", cursor=first["next_cursor"], limit=500)
    assert after.status_code == 200
    assert {item["gym_id"] for item in after.json()["items"]} <= {"g2"}
    whole = chain.every(path, "staff_g2")
    assert all(item in whole for item in after.json()["items"])


# -- the live stream ------------------------------------------------------------------------------


def new_alert(alert_id: str, gym: str) -> StaffAlert:
    return StaffAlert(
        id=alert_id,
        t=time.time(),
        gym_id=gym,
        machine_id="lp-01",
        session_id=None,
        member_id=None,
        severity=Severity.CRITICAL,
        kind="lumbar_liftoff",
        message="lp-01: back lifting off the pad under heavy load",
    )


def about(event: dict[str, str]) -> tuple[str, str]:
    data = json.loads(event["data"])
    return event["event"], data["id"] if event["event"] == "alert" else data["alert_id"]


def test_the_alert_stream_carries_only_the_tokens_gyms(chain: Chain) -> None:
    """Each stream reads on to an event that came after every other: another gym's alert or
    acknowledgement would have come before it."""

    def take(alert_id: str, who: str) -> None:
        url = f"/v1/alerts/{alert_id}/acknowledge"
        assert chain.api.post(url, headers=chain.auth(who)).status_code == 200

    streams = [
        chain.api.stream("GET", "/v1/alerts/stream", headers=chain.auth(who))
        for who in ("staff_g1", "staff_g2")
    ]
    with streams[0] as g1_stream, streams[1] as g2_stream, stored(chain.data_dir) as store:
        g1_lines, g2_lines = connected(g1_stream), connected(g2_stream)
        store.write(Changes(alerts=[new_alert("g2-first", "g2")]))
        take("g2-first", "staff_g2")
        store.write(Changes(alerts=[new_alert("g1-only", "g1")]))
        take("g1-only", "staff_g1")
        store.write(Changes(alerts=[new_alert("g2-last", "g2")]))
        take("g2-last", "staff_g2")
        g1_events = read_events(g1_lines, lambda e: about(e) == ("acknowledged", "g1-only"))
        g2_events = read_events(g2_lines, lambda e: about(e) == ("acknowledged", "g2-last"))
    assert [about(e) for e in g1_events] == [("alert", "g1-only"), ("acknowledged", "g1-only")]
    assert sorted(map(about, g2_events)) == [
        ("acknowledged", "g2-first"),
        ("acknowledged", "g2-last"),
        ("alert", "g2-first"),
        ("alert", "g2-last"),
    ]


# -- tokens ---------------------------------------------------------------------------------------


def test_tokens_list_shows_the_gyms_of_each(chain: Chain) -> None:
    expected = {
        "staff_g1": (False, ["g1"]),
        "staff_g2": (False, ["g2"]),
        "staff_both": (False, ["g1", "g2"]),
        "staff_all": (True, []),
        "admin": (True, []),
        "member": (False, []),
    }
    listed = gymfloor("tokens", "list", "--data-dir", str(chain.data_dir))
    assert listed.returncode == 0, listed.stderr
    by_id = {t["id"]: t for t in map(json.loads, listed.stdout.splitlines())}
    served = {t["id"]: t for t in chain.every("/v1/tokens", "admin")}
    for who, (all_gyms, gym_ids) in expected.items():
        token = by_id[token_id(chain.tokens[who])]
        assert (token["all_gyms"], token["gym_ids"]) == (all_gyms, gym_ids), who
        assert served[token["id"]] == token


def test_a_token_issued_through_the_api_sees_the_gyms_it_names(chain: Chain) -> None:
    new = {"role": "staff", "gym_ids": ["g2"], "label": "g2 front desk"}
    issued = chain.api.post("/v1/tokens", json=new, headers=chain.auth("admin"))
    assert issued.status_code == 201, issued.text
    assert issued.json()["info"]["gym_ids"] == ["g2"]
    headers = {"Authorization": f"Bearer {issued.json()['token']}"}
    machines = chain.api.get("/v1/machines", headers=headers).json()["items"]
    assert machines and {m["gym_id"] for m in machines} == {"g2"}
    refused = chain.api.get("/v1/alerts", params={"gym_id": "g1"}, headers=headers)
    assert refused.status_code == 403


def test_a_member_still_sees_their_own_reps_in_every_gym(chain: Chain) -> None:
    mine = chain.every("/v1/me/reps", "member")
    expected = [r for r in chain.reps if r["member_id"] == "m-0001"]
    assert {r["gym_id"] for r in expected} == set(GYMS)
    assert sorted(map(key, mine)) == sorted(map(key, expected))
