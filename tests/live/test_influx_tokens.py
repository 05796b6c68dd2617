"""`gymfloor timeseries tokens` against a real InfluxDB with authentication on: Debian's 1.6.7,
whose credentials are users with grants, behind the forwarder that reads "Token user:password"
as 1.8 does. Ingest writes with its write-only token, the datasource as Grafana reads it queries
with the read-only one, neither can do the other's part, a second run keeps both, and a rotation
replaces both and locks the old ones out."""

from __future__ import annotations

import json
import secrets
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gymfloor.storage.timeseries.tokens import ID_FILE, READERS, TOKEN_FILE
from tests.support.floor import Report, stored_count
from tests.support.grafana import datasource, grafana_reads
from tests.support.processes import (
    INFLUX_DATABASE,
    InfluxDB,
    InfluxForwarder,
    Mosquitto,
    gymfloor,
    ingest,
    replay,
    wait_until,
)

ADMIN = f"admin:{secrets.token_hex(8)}"


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[tuple[InfluxDB, InfluxForwarder]]:
    with (
        InfluxDB(tmp_path / "influxdb", admin=ADMIN) as db,
        InfluxForwarder(db.url) as forwarder,
    ):
        db.query(f"CREATE DATABASE {INFLUX_DATABASE}")
        yield db, forwarder


def make_tokens(db: InfluxDB, directory: Path, *flags: str) -> dict[str, str]:
    """Runs the command with the admin's token; each reader's token, by reader."""
    done = gymfloor(
        "timeseries",
        "tokens",
        str(directory),
        *flags,
        env={
            "GYMFLOOR_INFLUX__URL": db.url,
            "GYMFLOOR_INFLUX__BUCKET": INFLUX_DATABASE,
            "GYMFLOOR_INFLUX__TOKEN": ADMIN,
        },
    )
    assert done.returncode == 0, done.stderr
    assert ADMIN.partition(":")[2] not in done.stderr + done.stdout
    return {r.name: (directory / r.name / TOKEN_FILE).read_text().strip() for r in READERS}


def write(forwarder: InfluxForwarder, token: str, line: str) -> int:
    """The status of an /api/v2/write of one line, as ingest sends it."""
    query = urllib.parse.urlencode({"bucket": INFLUX_DATABASE, "org": "gymfloor"})
    return post(forwarder, f"/api/v2/write?{query}", line.encode(), f"Token {token}")[0]


def read(forwarder: InfluxForwarder, token: str) -> int:
    return query(forwarder, f"Token {token}", "SHOW MEASUREMENTS")[0]


def query(forwarder: InfluxForwarder, authorization: str, influxql: str) -> tuple[int, Any]:
    """An InfluxQL query as Grafana's datasource sends it: the status, and the answer."""
    form = urllib.parse.urlencode({"q": influxql, "db": INFLUX_DATABASE}).encode()
    return post(forwarder, "/query", form, authorization)


def post(forwarder: InfluxForwarder, path: str, body: bytes, authorization: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        forwarder.url + path, data=body, headers={"Authorization": authorization}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = response.read()
            return response.status, json.loads(answer) if answer else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_each_reader_gets_only_its_own_privilege_and_a_rotation_locks_the_old_tokens_out(
    influx: tuple[InfluxDB, InfluxForwarder], tmp_path: Path
) -> None:
    db, forwarder = influx
    directory = tmp_path / "tokens"
    tokens = make_tokens(db, directory)
    for reader in READERS:
        token_file = directory / reader.name / TOKEN_FILE
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o400
        assert (directory / reader.name / ID_FILE).read_text().strip() in tokens[reader.name]

    assert write(forwarder, tokens["ingest"], "probe value=1") == 204
    assert write(forwarder, tokens["grafana"], "probe value=2") == 403
    assert read(forwarder, tokens["grafana"]) == 200
    assert read(forwarder, tokens["ingest"]) == 403
    assert write(forwarder, "nobody:guess", "probe value=3") == 401
    assert [row["value"] for row in db.query("SELECT * FROM probe", INFLUX_DATABASE)] == [1.0]

    assert make_tokens(db, directory) == tokens  # a second run keeps what works

    rotated = make_tokens(db, directory, "--rotate")
    assert all(rotated[name] != tokens[name] for name in tokens)
    assert write(forwarder, rotated["ingest"], "probe value=4") == 204
    assert read(forwarder, rotated["grafana"]) == 200
    assert write(forwarder, tokens["ingest"], "probe value=5") == 401
    assert read(forwarder, tokens["grafana"]) == 401
    users = {row["user"] for row in db.query("SHOW USERS")}
    assert users == {ADMIN.partition(":")[0], *(t.partition(":")[0] for t in rotated.values())}


def test_ingest_writes_with_its_token_file_and_grafana_reads_with_its_own(
    influx: tuple[InfluxDB, InfluxForwarder],
    recording: Path,
    expected: list[Report],
    tmp_path: Path,
) -> None:
    db, forwarder = influx
    directory = tmp_path / "tokens"
    make_tokens(db, directory)
    env = {
        "GYMFLOOR_INFLUX__URL": forwarder.url,
        "GYMFLOOR_INFLUX__BUCKET": INFLUX_DATABASE,
        "GYMFLOOR_INFLUX__TOKEN_FILE": str(directory / "ingest" / TOKEN_FILE),
    }
    with Mosquitto(tmp_path / "broker") as broker, ingest(broker, tmp_path, **env) as service:
        service.wait_for_log("subscribed")
        with replay(broker, recording) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")

        def reps_in_influx() -> int:
            rows = db.query('SELECT count("rom_mm") FROM "rep"', INFLUX_DATABASE)
            return int(rows[0]["count"]) if rows else 0

        wait_until(lambda: reps_in_influx() >= len(expected), 60, "every rep in influxdb")
        assert service.stop() == 0
    assert "refused" not in service.log and "401" not in service.log

    source = grafana_reads(
        datasource(),
        {"GYMFLOOR_INFLUX__URL": forwarder.url, "GYMFLOOR_INFLUX__BUCKET": INFLUX_DATABASE},
        directory / "grafana",
    )
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    status, answer = query(
        forwarder, source["secureJsonData"]["httpHeaderValue1"], 'SELECT count("rom_mm") FROM "rep"'
    )
    assert status == 200
    assert answer["results"][0]["series"][0]["values"][0][1] == len(expected)


def test_a_wrong_admin_token_or_a_dead_server_is_a_clear_error_and_writes_nothing(
    influx: tuple[InfluxDB, InfluxForwarder], tmp_path: Path
) -> None:
    db, _ = influx
    directory = tmp_path / "tokens"
    settings = {"GYMFLOOR_INFLUX__URL": db.url, "GYMFLOOR_INFLUX__BUCKET": INFLUX_DATABASE}
    wrong = gymfloor(
        "timeseries",
        "tokens",
        str(directory),
        env={**settings, "GYMFLOOR_INFLUX__TOKEN": "admin:wrong-guess"},
    )
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr
    assert "wrong-guess" not in wrong.stderr and "Traceback" not in wrong.stderr
    db.stop()
    dead = gymfloor(
        "timeseries", "tokens", str(directory), env={**settings, "GYMFLOOR_INFLUX__TOKEN": ADMIN}
    )
    assert dead.returncode == 1 and "does not answer" in dead.stderr
    assert not directory.exists()
