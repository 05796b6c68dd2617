"""The API against hostile or careless clients, over HTTP to a real `gymfloor api`: bodies too
large, crafted cursors, made-up methods and paths, floods without a token, and an export larger
than what it reads at a time. The store is written as ingest writes it, without a broker."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gymfloor.contract import Fault, MachineKey, RepReport, SessionPayload
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore
from gymfloor.storage.reps import EXPORT_CHUNK_ROWS
from tests.support.processes import api, issue_token
from tests.support.synth import rep_report

REPS = 2 * EXPORT_CHUNK_ROWS + 7  # an export of several chunks, the last one short
MAX_BODY = 64 * 1024  # the documented default
ANONYMOUS_REQUESTS = 5


@dataclass
class Server:
    data_dir: Path
    client: httpx.Client
    tokens: dict[str, str]  # role → token

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def reps_of_one_session() -> list[RepReport]:
    """Member m-1's reps, each with a different depth and descent so the means need rounding."""
    return [
        rep_report(n, *([Fault.LUMBAR_LIFTOFF] if n % 3 == 0 else [])).model_copy(
            update={"rom_mm": 300 + n % 7 / 10, "eccentric_s": 2.5 + n % 9 / 1000}
        )
        for n in range(1, REPS + 1)
    ]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("limits")
    store = OperationalStore(f"sqlite:///{directory / 'gymfloor.db'}")
    start = SessionPayload(v=1, event="start", t=9000.0, session_id="s-9000", member_id="m-1")
    store.write(
        Changes(reports=reps_of_one_session(), sessions=[(MachineKey("g1", "lp-01"), start)])
    )
    store.close()
    return directory


def tokens(directory: Path) -> dict[str, str]:
    return {
        "member": issue_token(directory, "--role", "member", "--member", "m-1"),
        "admin": issue_token(directory, "--role", "admin"),
    }


@pytest.fixture(scope="module")
def server(store_dir: Path) -> Iterator[Server]:
    """The API with its default limits."""
    issued = tokens(store_dir)
    with api(store_dir) as (base, _), httpx.Client(base_url=base, timeout=60) as client:
        yield Server(store_dir, client, issued)


@pytest.fixture(scope="module")
def limited(store_dir: Path) -> Iterator[Server]:
    """The API allowing each address a few requests without a token, in an hour."""
    issued = tokens(store_dir)
    env = {
        "GYMFLOOR_API__ANONYMOUS_REQUESTS": str(ANONYMOUS_REQUESTS),
        "GYMFLOOR_API__ANONYMOUS_WINDOW_S": "3600",
    }
    with api(store_dir, **env) as (base, _), httpx.Client(base_url=base, timeout=60) as client:
        yield Server(store_dir, client, issued)


# -- bodies ----------------------------------------------------------------------------------------


def new_member(padding: int) -> bytes:
    return json.dumps({"member_id": "m-padded", "display_name": "x" * padding}).encode()


@pytest.mark.parametrize("role", [None, "admin"], ids=["no token", "admin"])
@pytest.mark.parametrize("path", ["/v1/members", "/v1/tokens", "/nowhere"])
def test_a_body_over_the_limit_is_413_whatever_the_route_and_token(
    server: Server, path: str, role: str | None
) -> None:
    headers = {"Content-Type": "application/json", **(server.auth(role) if role else {})}
    got = server.client.post(path, content=new_member(MAX_BODY), headers=headers)
    assert got.status_code == 413
    assert str(MAX_BODY) in got.json()["detail"]


def test_a_chunked_body_is_cut_off_at_the_limit(server: Server) -> None:
    body = new_member(4 * MAX_BODY)

    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    headers = {"Content-Type": "application/json", **server.auth("admin")}
    got = server.client.post("/v1/members", content=chunks(), headers=headers)
    assert got.status_code == 413
    stored = server.client.get("/v1/members/m-padded", headers=server.auth("admin"))
    assert stored.status_code == 404


def test_a_body_under_the_limit_is_read_and_the_server_carries_on(server: Server) -> None:
    headers = {"Content-Type": "application/json", **server.auth("admin")}
    # Read and judged by the route: too long a name for a member, not too large a body.
    got = server.client.post("/v1/members", content=new_member(MAX_BODY - 100), headers=headers)
    assert got.status_code == 422
    assert "display_name" in got.text
    assert server.client.get("/healthz").status_code == 200


# -- cursors -------------------------------------------------------------------------------------


def crafted(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


CURSORS = {
    "huge integer": crafted(f"[9000.0, {10**40}]"),
    "huge float": crafted(f"[{10**400}, 1]"),
    "infinity": crafted("[1e999, 1]"),
    "wrong types": crafted("[true, null]"),
    "wrong length": crafted("[9000.0]"),
    "not base64": "%%%not-base64%%%",
    "not JSON": crafted("9000.0, 1"),
    "nested": crafted("[[9000.0], {'id': 1}]".replace("'", '"')),
    "deeply nested": crafted("[" * 3000 + "]" * 3000),
    "overlong": "W" * 20_000,
}
LISTS = [
    ("/v1/reps", "admin"),
    ("/v1/me/reps", "member"),
    ("/v1/me/sessions", "member"),
    ("/v1/alerts", "admin"),
    ("/v1/machines", "admin"),
    ("/v1/members", "admin"),
    ("/v1/tokens", "admin"),
]


@pytest.mark.parametrize(("path", "role"), LISTS, ids=[path for path, _ in LISTS])
@pytest.mark.parametrize("cursor", list(CURSORS.values()), ids=list(CURSORS))
def test_a_crafted_cursor_is_400_on_every_list(
    server: Server, path: str, role: str, cursor: str
) -> None:
    got = server.client.get(path, params={"cursor": cursor}, headers=server.auth(role))
    assert got.status_code == 400, got.text
    assert "cursor" in got.json()["detail"]


def test_a_cursor_the_list_handed_out_still_pages(server: Server) -> None:
    first = server.client.get("/v1/reps", params={"limit": 3}, headers=server.auth("admin"))
    cursor = first.json()["next_cursor"]
    second = server.client.get(
        "/v1/reps", params={"limit": 3, "cursor": cursor}, headers=server.auth("admin")
    )
    assert second.status_code == 200
    assert second.json()["items"][0]["t_start"] < first.json()["items"][-1]["t_start"]


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_labels_stay_bounded_whatever_the_methods_and_paths(server: Server) -> None:
    admin = server.auth("admin")
    for n in range(5):
        server.client.request(f"BREW{n}", f"/v1/reps-{n}", headers=admin)
        server.client.get(f"/no/such/path/{n}", headers=admin)
    text = server.client.get("/metrics", headers=admin).text
    series = re.findall(r"^gymfloor_api_requests_total\{(.*)\}", text, re.M)
    assert 'method="other",route="unmatched",status="404"' in series
    assert 'method="GET",route="unmatched",status="404"' in series
    assert not any("BREW" in labels or "/no/such" in labels for labels in series)


# -- the token-less rate ---------------------------------------------------------------------------


def test_requests_without_a_valid_token_are_limited_per_address(limited: Server) -> None:
    answers = [limited.client.get("/openapi.json").status_code for _ in range(ANONYMOUS_REQUESTS)]
    assert answers == [200] * ANONYMOUS_REQUESTS
    refused = limited.client.get("/metrics")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert "token" in refused.json()["detail"]
    # A token the store does not know counts as none, wherever it is sent.
    unknown = {"Authorization": "Bearer gf_000000000000_not-a-token"}
    assert limited.client.get("/metrics", headers=unknown).status_code == 429
    assert limited.client.get("/v1/reps", headers=unknown).status_code == 429
    # Health checks are never limited.
    assert limited.client.get("/healthz").status_code == 200
    assert limited.client.get("/readyz").status_code in (200, 503)
    # Valid tokens are never limited, whatever the address has spent.
    for _ in range(3 * ANONYMOUS_REQUESTS):
        assert limited.client.get("/v1/me", headers=limited.auth("member")).status_code == 200
    metrics = limited.client.get("/metrics", headers=limited.auth("admin")).text
    assert re.search(r'^gymfloor_api_requests_total\{.*status="429"\} 3\.0$', metrics, re.M)


# -- the export ----------------------------------------------------------------------------------


def test_the_csv_export_streams_every_rep_in_order(server: Server) -> None:
    with server.client.stream("GET", "/v1/me/reps.csv", headers=server.auth("member")) as got:
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/csv")
        assert "content-length" not in got.headers  # streamed, not built whole
        text = got.read().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(RepReport.model_fields)
    expected = reps_of_one_session()
    assert len(rows) == len(expected)
    for row, report in zip(rows, expected, strict=True):
        assert float(row["t_start"]) == report.t_start
        assert float(row["rom_mm"]) == report.rom_mm
        assert row["faults"] == " ".join(report.faults)
        assert row["load_kg"] == ""  # null as an empty cell


# -- session summaries ---------------------------------------------------------------------------


def test_session_figures_are_rounded(server: Server) -> None:
    report = server.client.get("/v1/me/sessions/s-9000", headers=server.auth("member")).json()
    session = report["session"]
    reps = reps_of_one_session()
    assert session["mean_rom_mm"] == round(sum(r.rom_mm for r in reps) / len(reps), 1)
    assert session["mean_eccentric_s"] == round(sum(r.eccentric_s for r in reps) / len(reps), 2)
    assert report["trend"]["faulty_share"] == round(len(reps) // 3 / len(reps), 3)
