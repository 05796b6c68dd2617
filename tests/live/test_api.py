"""The API over a store filled by the real pipeline: a simulated floor replayed through a real
Mosquitto into `gymfloor ingest`, then `gymfloor api` serving it over HTTP. Tokens come from
the `gymfloor tokens` command, as an admin would issue them."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Ok

from gymfloor import coaching
from gymfloor.api.member_trend import DEFAULT_SESSIONS, MAX_SESSIONS, MIN_SESSIONS
from gymfloor.contract import MACHINE_OFFLINE, Fault, RepReport, Severity, StaffAlert
from gymfloor.outputs import Changes
from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.floor import (
    Report,
    analyzed,
    busiest_members,
    stored,
    stored_count,
    write_recording,
)
from tests.support.processes import (
    Mosquitto,
    api,
    gymfloor,
    ingest,
    issue_token,
    replay,
    wait_until,
)
from tests.support.sse import connected, read_events

TOKEN = re.compile(r"gf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@dataclass
class Floor:
    data_dir: Path
    api: httpx.Client
    reports: list[Report]  # what `gymfloor analyze` makes of the recording
    tokens: dict[str, str]  # role name → token: member_a, member_b, staff, admin
    member_a: str
    member_b: str

    def get(self, path: str, role: str | None = None, **params: Any) -> httpx.Response:
        return self.api.get(path, params=params, headers=self.auth(role))

    def auth(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def member_reports(self, member: str) -> list[Report]:
        return [r for r in self.reports if r["member_id"] == member]


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    directory = tmp_path_factory.mktemp("api")
    # Few recurring members over many visits, so each member has several sessions.
    simulation = simulate(SimulationPlan(seed=21, machines=3, visits=4, members=3))
    recording = write_recording(directory / "floor.jsonl", simulation.messages)
    reports = analyzed(recording)
    with Mosquitto(directory / "broker") as broker, ingest(broker, directory) as service:
        service.wait_for_log("subscribed")
        with replay(broker, recording) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        wait_until(lambda: stored_count(directory) >= len(reports), 60, "every rep stored")
        member_a, member_b = busiest_members(reports)
        tokens = {
            "member_a": issue_token(directory, "--role", "member", "--member", member_a),
            "member_b": issue_token(directory, "--role", "member", "--member", member_b),
            "staff": issue_token(
                directory, "--role", "staff", "--gym", "g1", "--label", "floor tablet"
            ),
            "admin": issue_token(directory, "--role", "admin"),
        }
        with api(directory) as (base, _), httpx.Client(base_url=base, timeout=30) as client:
            yield Floor(directory, client, reports, tokens, member_a, member_b)
        assert service.stop() == 0


def key(report: Report) -> tuple[str, str, float]:
    return (report["gym_id"], report["machine_id"], report["t_start"])


def every_page(floor: Floor, path: str, role: str, **params: Any) -> list[dict[str, Any]]:
    """Follow `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = floor.get(path, role, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


# -- tokens ------------------------------------------------------------------------------------


def test_issued_tokens_are_printed_alone_and_stored_hashed(floor: Floor) -> None:
    for token in floor.tokens.values():
        assert TOKEN.fullmatch(token)
    stored = (floor.data_dir / "gymfloor.db").read_bytes()
    assert not any(token.encode() in stored for token in floor.tokens.values())


def test_a_revoked_token_is_refused_from_the_next_request(floor: Floor) -> None:
    token = issue_token(floor.data_dir, "--role", "staff", "--gym", "g1")
    headers = {"Authorization": f"Bearer {token}"}
    assert floor.api.get("/v1/machines", headers=headers).status_code == 200
    done = gymfloor("tokens", "revoke", token.split("_")[1], "--data-dir", str(floor.data_dir))
    assert done.returncode == 0, done.stderr
    refused = floor.api.get("/v1/machines", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"


# -- authorisation matrix ----------------------------------------------------------------------

ROLES = [None, "bad", "member_a", "member_b", "staff", "admin"]
MEMBER, STAFF, ADMIN = {"member_a", "member_b"}, {"staff", "admin"}, {"admin"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {session_a}: a session of member A; {alert}: an alert; {token}: a fresh token
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    refused_as: dict[str, int] | None = None  # allowed roles answered otherwise, e.g. 404
    status: int = 200

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/v1/me", frozenset(MEMBER)),
    Endpoint("GET", "/v1/me/reps", frozenset(MEMBER)),
    Endpoint("GET", "/v1/me/reps.csv", frozenset(MEMBER)),
    Endpoint("GET", "/v1/me/sessions", frozenset(MEMBER)),
    Endpoint("GET", "/v1/me/trend", frozenset(MEMBER)),
    # Another member's session is not theirs to know of: 404, as if it did not exist.
    Endpoint("GET", "/v1/me/sessions/{session_a}", frozenset(MEMBER), None, {"member_b": 404}),
    Endpoint("GET", "/v1/reps", frozenset(STAFF)),
    Endpoint("GET", "/v1/alerts", frozenset(STAFF)),
    Endpoint("GET", "/v1/alerts/stream", frozenset(STAFF)),
    Endpoint("POST", "/v1/alerts/{alert}/acknowledge", frozenset(STAFF)),
    Endpoint("GET", "/v1/machines", frozenset(STAFF)),
    Endpoint("GET", "/v1/machines/g1/lp-01/trace", frozenset(STAFF)),
    Endpoint("GET", "/v1/members", frozenset(ADMIN)),
    Endpoint("POST", "/v1/members", frozenset(ADMIN), {"member_id": "m-new"}, status=201),
    Endpoint("GET", "/v1/members/{member_a}", frozenset(ADMIN)),
    Endpoint("GET", "/v1/tokens", frozenset(ADMIN)),
    Endpoint(
        "POST", "/v1/tokens", frozenset(ADMIN), {"role": "staff", "gym_ids": ["g1"]}, status=201
    ),
    Endpoint("DELETE", "/v1/tokens/{token}", frozenset(ADMIN)),
]


@pytest.fixture(scope="module")
def targets(floor: Floor) -> dict[str, str]:
    """What the paths of the matrix name: a session of member A, an alert, a member."""
    return {
        "session_a": next(r["session_id"] for r in floor.member_reports(floor.member_a)),
        "alert": every_page(floor, "/v1/alerts", "staff")[0]["id"],
        "member_a": floor.member_a,
    }


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "none")
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_endpoint_answers_each_role_as_it_should(
    floor: Floor, targets: dict[str, str], endpoint: Endpoint, role: str | None
) -> None:
    new = {"role": "staff", "gym_ids": ["g1"]}
    token = floor.api.post("/v1/tokens", json=new, headers=floor.auth("admin"))
    path = endpoint.path.format(**targets, token=token.json()["info"]["id"])
    headers = {"Authorization": "Bearer gf_000000000000_not-a-token"} if role == "bad" else {}
    headers |= floor.auth(role) if role not in (None, "bad") else {}
    if role in (None, "bad"):
        expected = 401
    elif role not in endpoint.allowed:
        expected = 403
    elif role in (endpoint.refused_as or {}):
        expected = (endpoint.refused_as or {})[role]
    else:
        expected = endpoint.status
    with floor.api.stream(endpoint.method, path, headers=headers, json=endpoint.body) as response:
        assert response.status_code == expected, response.read().decode()
        if expected == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_operations_endpoints_need_no_token(floor: Floor, path: str) -> None:
    assert floor.get(path).status_code == 200


# -- members see their own data ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["member_a", "member_b"])
def test_members_get_exactly_their_own_reps(floor: Floor, who: str) -> None:
    member = getattr(floor, who)
    served = every_page(floor, "/v1/me/reps", who, limit=9)
    assert sorted(served, key=key) == sorted(floor.member_reports(member), key=key)


def test_members_sessions_are_theirs_with_totals_that_match_their_reps(floor: Floor) -> None:
    sessions = every_page(floor, "/v1/me/sessions", "member_a", limit=2)
    mine = floor.member_reports(floor.member_a)
    assert {s["session_id"] for s in sessions} == {r["session_id"] for r in mine}
    assert len(sessions) >= 3  # enough for a trend
    assert [s["t_start"] for s in sessions] == sorted(
        (s["t_start"] for s in sessions), reverse=True
    )
    for session in sessions:
        reps = [r for r in mine if r["session_id"] == session["session_id"]]
        assert session["member_id"] == floor.member_a
        assert session["reps"] == len(reps)
        assert session["faulty_reps"] == sum(bool(r["faults"]) for r in reps)
        for fault, count in session["faults"].items():
            assert count == sum(fault in r["faults"] for r in reps)


def test_a_session_report_has_its_reps_trend_and_coaching(floor: Floor) -> None:
    sessions = every_page(floor, "/v1/me/sessions", "member_a")
    mine = floor.member_reports(floor.member_a)
    for position, session in enumerate(sessions):
        got = floor.get(f"/v1/me/sessions/{session['session_id']}", "member_a")
        assert got.status_code == 200, got.text
        report = got.json()
        reps = [r for r in mine if r["session_id"] == session["session_id"]]
        assert report["reps"] == sorted(reps, key=lambda r: r["t_start"])
        assert report["session"] == session
        earlier = sessions[position + 1 : position + 6]
        assert report["trend"]["earlier_sessions"] == earlier
        streak = report["trend"]["liftoff_sessions_in_a_row"]
        expected = coaching.session_advice([RepReport.model_validate(r) for r in reps], streak)
        assert report["coaching"] == expected
        assert report["see_a_professional"] == (coaching.SEE_A_PROFESSIONAL in expected)
        if not earlier:
            assert report["trend"]["verdict"] == "first session"


def test_a_members_trend_sums_up_their_last_sessions(floor: Floor) -> None:
    sessions = every_page(floor, "/v1/me/sessions", "member_a")
    assert len(sessions) >= MIN_SESSIONS  # the recurring members make a trend to read
    mine = floor.member_reports(floor.member_a)
    got = floor.get("/v1/me/trend", "member_a")
    assert got.status_code == 200, got.text
    trend = got.json()
    served = trend["sessions"]
    assert [p["session_id"] for p in served] == [
        s["session_id"] for s in reversed(sessions[:DEFAULT_SESSIONS]) if s["reps"]
    ]
    for figures in served:
        reps = [r for r in mine if r["session_id"] == figures["session_id"]]
        assert figures["reps"] == len(reps)
        for fault in Fault:
            count = sum(fault in r["faults"] for r in reps)
            assert figures["faults"][fault] == count
            assert figures["fault_shares"][fault] == pytest.approx(count / len(reps), abs=1e-3)
        mean_rom = sum(r["rom_mm"] for r in reps) / len(reps)
        assert figures["mean_rom_mm"] == pytest.approx(mean_rom, abs=0.1)
        mean_descent = sum(r["eccentric_s"] for r in reps) / len(reps)
        assert figures["mean_eccentric_s"] == pytest.approx(mean_descent, abs=0.01)
    assert trend["summary"] in coaching.TREND_SENTENCES.values()
    # The newest session's report applies the same rule to the same streak.
    newest = floor.get(f"/v1/me/sessions/{served[-1]['session_id']}", "member_a").json()
    assert trend["see_a_professional"] == newest["see_a_professional"]
    streak = newest["trend"]["liftoff_sessions_in_a_row"]
    assert trend["liftoff_sessions_in_a_row"] == streak
    two = floor.get("/v1/me/trend", "member_a", sessions=2).json()
    assert two["sessions"] == served[-2:]
    assert two["liftoff_sessions_in_a_row"] == streak  # counted past the two it shows


def test_members_export_their_reps_as_csv(floor: Floor) -> None:
    got = floor.get("/v1/me/reps.csv", "member_b")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    lines = got.text.splitlines()
    assert lines[0] == ",".join(RepReport.model_fields)
    assert len(lines) - 1 == len(floor.member_reports(floor.member_b))
    assert all(floor.member_a not in line for line in lines)


# -- staff ---------------------------------------------------------------------------------------


def test_the_staff_rep_list_serves_every_rep_exactly_once_across_pages(floor: Floor) -> None:
    served = every_page(floor, "/v1/reps", "staff", limit=7)
    assert len(served) == len({key(r) for r in served})
    assert sorted(served, key=key) == sorted(floor.reports, key=key)


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"machine_id": "lp-02"}, lambda r: r["machine_id"] == "lp-02"),
        ({"fault": "lumbar_liftoff"}, lambda r: "lumbar_liftoff" in r["faults"]),
        ({"member_id": "m-0001"}, lambda r: r["member_id"] == "m-0001"),
    ],
    ids=["machine", "fault", "member"],
)
def test_the_staff_rep_list_filters(floor: Floor, params: dict[str, str], keep: Any) -> None:
    served = every_page(floor, "/v1/reps", "staff", limit=50, **params)
    expected = [r for r in floor.reports if keep(r)]
    assert expected
    assert sorted(served, key=key) == sorted(expected, key=key)


def test_the_staff_rep_list_filters_by_time(floor: Floor) -> None:
    starts = sorted(r["t_start"] for r in floor.reports)
    since, until = starts[len(starts) // 4], starts[len(starts) // 2]
    served = every_page(floor, "/v1/reps", "staff", since=since, until=until)
    assert sorted(r["t_start"] for r in served) == [t for t in starts if since <= t < until]


@pytest.mark.parametrize(
    ("path", "size"),
    [("/v1/alerts", 3), ("/v1/machines", 1), ("/v1/members", 1), ("/v1/tokens", 2)],
)
def test_every_list_pages_through_each_item_once(floor: Floor, path: str, size: int) -> None:
    role = "admin"
    whole = floor.get(path, role, limit=500).json()["items"]
    paged = every_page(floor, path, role, limit=size)
    assert len(whole) > size
    assert paged == whole


def test_machines_show_presence_and_no_open_session_after_check_out(floor: Floor) -> None:
    machines = every_page(floor, "/v1/machines", "staff")
    assert {m["machine_id"] for m in machines} == {"lp-01", "lp-02", "lp-03"}
    for machine in machines:
        assert machine["state"] in ("online", "offline")
        # The recording ends with everyone checked out.
        assert machine["current_session"] is None
        own = sorted(
            (r for r in floor.reports if r["machine_id"] == machine["machine_id"]),
            key=lambda r: r["t_start"],
        )
        assert machine["last_rep"]["t_start"] == own[-1]["t_start"]
        faulty = [r for r in own if r["faults"]]
        assert machine["last_fault"]["t_start"] == faulty[-1]["t_start"]
        assert machine["last_fault"]["faults"] == faulty[-1]["faults"]


def test_a_machines_trace_is_its_last_set_with_the_reps_in_it(floor: Floor) -> None:
    for machine in ("lp-01", "lp-02", "lp-03"):
        trace = floor.get(f"/v1/machines/g1/{machine}/trace", "staff", seconds=600).json()
        times = trace["t"]
        assert len(times) > 100 and times == sorted(times)
        assert len(trace["sled_mm"]) == len(trace["lumbar_ratio"]) == len(times)
        ratios = [r for r in trace["lumbar_ratio"] if r is not None]
        assert ratios and 0.7 < sorted(ratios)[len(ratios) // 2] < 1.3  # on the pad, mostly
        served = {(r["t_start"], tuple(r["faults"])) for r in trace["reps"]}
        in_window = {
            (r["t_start"], tuple(r["faults"]))
            for r in floor.reports
            if r["machine_id"] == machine and r["t_start"] >= times[0]
        }
        assert served == in_window and served
    assert floor.get("/v1/machines/g1/lp-99/trace", "staff").status_code == 404
    assert floor.get("/v1/machines/g1/lp-01/trace", "staff", seconds=0).status_code == 422


# -- the live alert stream -----------------------------------------------------------------------


def test_the_alert_stream_carries_new_alerts_and_acknowledgements_live(floor: Floor) -> None:
    open_alert = every_page(floor, "/v1/alerts", "staff", acknowledged="false")[0]
    staff = floor.auth("staff")
    with floor.api.stream("GET", "/v1/alerts/stream", headers=staff) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = connected(stream)
        acked = floor.api.post(f"/v1/alerts/{open_alert['id']}/acknowledge", headers=staff)
        assert acked.status_code == 200
        assert acked.json()["acknowledged_at"] is not None
        acknowledgement = read_events(lines, lambda e: e["event"] == "acknowledged")[-1]
        assert json.loads(acknowledgement["data"])["alert_id"] == open_alert["id"]
        fresh = StaffAlert(
            id="test-alert-1",
            t=time.time(),
            gym_id="g1",
            machine_id="lp-02",
            session_id=None,
            member_id=None,
            severity=Severity.CRITICAL,
            kind="lumbar_liftoff",
            message="lp-02: back lifting off the pad under heavy load",
        )
        with stored(floor.data_dir) as store:
            store.write(Changes(alerts=[fresh]))  # as ingest writes it
        alert_event = read_events(lines, lambda e: e["event"] == "alert")[-1]
    assert json.loads(alert_event["data"]) == {
        **fresh.model_dump(mode="json"),
        "acknowledged_at": None,
        "acknowledged_by": None,
    }
    # Resuming after the acknowledgement (as a browser does on reconnecting) misses nothing.
    with floor.api.stream(
        "GET", "/v1/alerts/stream", headers={**staff, "Last-Event-ID": acknowledgement["id"]}
    ) as resumed:
        again = read_events(connected(resumed), lambda e: e["event"] == "alert")
    assert [json.loads(e["data"])["id"] for e in again] == [fresh.id]


def test_the_alert_stream_tells_when_an_offline_alert_clears(floor: Floor) -> None:
    staff = floor.auth("staff")
    offline = StaffAlert(
        id="test-offline-1",
        t=time.time(),
        gym_id="g1",
        machine_id="lp-02",
        session_id="s-offline",
        member_id=None,
        severity=Severity.WARNING,
        kind=MACHINE_OFFLINE,
        message="lp-02: lost its connection with a guest on it",
    )
    cleared_at = offline.t + 5.0
    with floor.api.stream("GET", "/v1/alerts/stream", headers=staff) as stream:
        lines = connected(stream)
        with stored(floor.data_dir) as store:
            store.write(Changes(alerts=[offline]))  # as ingest writes them
        raised = read_events(lines, lambda e: e["event"] == "alert")[-1]
        with stored(floor.data_dir) as store:
            store.write(Changes(cleared=[offline.model_copy(update={"cleared_at": cleared_at})]))
        cleared = read_events(lines, lambda e: e["event"] == "cleared")[-1]
    assert json.loads(raised["data"])["cleared_at"] is None
    assert json.loads(cleared["data"]) == {"alert_id": offline.id, "at": cleared_at}
    listed = [a for a in every_page(floor, "/v1/alerts", "staff") if a["id"] == offline.id]
    assert [a["cleared_at"] for a in listed] == [cleared_at]
    # Resuming after the alert misses no clearance, from an id of three numbers or of the two
    # a stream sent before clearances existed.
    alert_seq, ack_seq, _ = raised["id"].split(".")
    for resume_at in (raised["id"], f"{alert_seq}.{ack_seq}"):
        with floor.api.stream(
            "GET", "/v1/alerts/stream", headers={**staff, "Last-Event-ID": resume_at}
        ) as resumed:
            again = read_events(connected(resumed), lambda e: e["event"] == "cleared")
        assert json.loads(again[-1]["data"])["alert_id"] == offline.id


def test_acknowledging_twice_keeps_the_first_and_unknown_alerts_are_404(floor: Floor) -> None:
    alert = every_page(floor, "/v1/alerts", "staff")[-1]["id"]
    first = floor.api.post(f"/v1/alerts/{alert}/acknowledge", headers=floor.auth("staff"))
    second = floor.api.post(f"/v1/alerts/{alert}/acknowledge", headers=floor.auth("admin"))
    assert first.json()["acknowledged_at"] == second.json()["acknowledged_at"]
    assert first.json()["acknowledged_by"] == second.json()["acknowledged_by"]
    missing = floor.api.post("/v1/alerts/no-such-alert/acknowledge", headers=floor.auth("staff"))
    assert missing.status_code == 404


# -- invalid parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "headers", "says"),
    [
        ("/v1/reps", {"limit": "0"}, {}, "limit"),
        ("/v1/reps", {"limit": "many"}, {}, "limit"),
        ("/v1/me/trend", {"sessions": str(MAX_SESSIONS + 1)}, {}, "sessions"),
        ("/v1/me/trend", {"sessions": "0"}, {}, "sessions"),
        ("/v1/reps", {"fault": "bad_knees"}, {}, "fault"),
        ("/v1/reps", {"since": "yesterday"}, {}, "since"),
        ("/v1/alerts", {"severity": "urgent"}, {}, "severity"),
        ("/v1/alerts/stream", {}, {"Last-Event-ID": "yesterday"}, "Last-Event-ID"),
    ],
)
def test_invalid_parameters_are_422_saying_what_is_wrong(
    floor: Floor, path: str, params: dict[str, str], headers: dict[str, str], says: str
) -> None:
    role = "member_a" if path.startswith("/v1/me") else "staff"
    got = floor.api.get(path, params=params, headers={**floor.auth(role), **headers})
    assert got.status_code == 422
    assert says in got.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"role": "staff", "member_id": "m-0001", "all_gyms": True}, "member_id"),
        ({"role": "member"}, "member_id"),
        ({"role": "staff"}, "gym_ids or all_gyms"),
        ({"role": "staff", "gym_ids": ["g1"], "all_gyms": True}, "gym_ids or all_gyms"),
        ({"role": "staff", "gym_ids": []}, "gym_ids"),
        ({"role": "staff", "gym_ids": ["g 1"]}, "gym_ids"),
        ({"role": "admin", "gym_ids": ["g1"]}, "for staff tokens only"),
        ({"role": "member", "member_id": "m-0001", "all_gyms": True}, "for staff tokens only"),
    ],
)
def test_an_invalid_new_token_request_is_422(floor: Floor, body: dict[str, Any], says: str) -> None:
    got = floor.api.post("/v1/tokens", json=body, headers=floor.auth("admin"))
    assert got.status_code == 422
    assert says in got.text


# -- operations --------------------------------------------------------------------------------


def metric(text: str, name: str) -> float | None:
    found = re.search(rf'^{name}\{{instance="gymfloor-ingest"\}} (\S+)$', text, re.M)
    return None if found is None else float(found[1])


def test_metrics_count_what_ingest_did(floor: Floor) -> None:
    # Ingest reports every few seconds; its report after the last rep has them all.
    wait_until(
        lambda: (
            metric(floor.get("/metrics").text, "gymfloor_ingest_reps_total") == len(floor.reports)
        ),
        30,
        "ingest's report of every rep",
    )
    assert floor.get("/v1/reps", "staff", limit=1).status_code == 200
    text = floor.get("/metrics").text
    latency = metric(text, "gymfloor_detection_latency_seconds_count")
    assert latency is not None and latency >= len(floor.reports)
    messages = metric(text, "gymfloor_ingest_messages_total")
    assert messages is not None and messages > len(floor.reports)
    assert metric(text, "gymfloor_influx_backlog_points") == 0
    assert re.search(r'^gymfloor_api_requests_total\{.*route="/v1/reps".*\} \d', text, re.M)


def test_ready_while_ingest_is_connected(floor: Floor) -> None:
    ready = floor.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["store"]["ok"] and checks["broker"]["ok"] and checks["influxdb"]["ok"]


# -- fuzzing -------------------------------------------------------------------------------------


def test_no_request_the_schema_allows_makes_the_server_fail(floor: Floor) -> None:
    """Whatever the parameters and bodies schemathesis draws from the OpenAPI schema, sent with
    a token of the role the path needs: never a 5xx (but /readyz's documented 503)."""
    schema = schemathesis.openapi.from_url(str(floor.api.base_url.join("/openapi.json")))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an invalid operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= len(ENDPOINTS)
    for operation in operations:
        if operation.path != "/v1/alerts/stream":  # it never ends; the tests above cover it
            role = "member_a" if operation.path.startswith("/v1/me") else "admin"
            fuzz(operation, floor.auth(role))


def fuzz(operation: Any, headers: dict[str, str]) -> None:
    allowed = {503} if operation.path == "/readyz" else set()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def never_fails(case: Case) -> None:
        response = case.call(headers=headers)
        failed = response.status_code >= 500 and response.status_code not in allowed
        assert not failed, f"{case.method} {case.formatted_path}: {response.text}"

    never_fails()


def test_a_locked_store_answers_503_and_the_api_carries_on(floor: Floor) -> None:
    alert = every_page(floor, "/v1/alerts", "staff", acknowledged="false")[-1]["id"]
    path = f"/v1/alerts/{alert}/acknowledge"
    lock = sqlite3.connect(floor.data_dir / "gymfloor.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # as a stuck writer would; readers go on in WAL mode
    try:
        locked = floor.api.post(path, headers=floor.auth("staff"))
        assert floor.get("/v1/reps", "staff", limit=1).status_code == 200
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert locked.status_code == 503
    assert locked.headers["Retry-After"] == "5"
    assert floor.api.post(path, headers=floor.auth("staff")).status_code == 200


def test_several_worker_processes_serve_the_same_api(floor: Floor) -> None:
    with api(floor.data_dir, "--workers", "2") as (base, server):
        server.wait_for_log("Started server process", count=2)
        for role in ("staff", "member_a"):
            path = "/v1/reps" if role == "staff" else "/v1/me/reps"
            mine = httpx.get(f"{base}{path}", params={"limit": 5}, headers=floor.auth(role))
            assert mine.json() == floor.get(path, role, limit=5).json()
