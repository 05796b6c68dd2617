"""Every query in the Grafana dashboards and alert rules of dashboards/ answered by a real
InfluxDB (Debian's 1.6.7 behind the /api/v2/write forwarder) that the real pipeline filled: a
simulated floor, with members and faults, replayed through Mosquitto into `gymfloor ingest`.

Grafana's macros and variables are filled in as Grafana fills them: $timeFilter as an absolute
range in milliseconds, $__interval as the panel's minimum interval (or 1 s), a variable that
offers "All" as the regular expression of all its values, which the variable's own query
found."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.floor import analyzed, recording_span, write_recording
from tests.support.grafana import BOARDS, Board, datasource, grafana_reads, rules
from tests.support.processes import (
    INFLUX_DATABASE,
    InfluxDB,
    Mosquitto,
    influx_env,
    influx_for_ingest,
    ingest,
    replay,
    wait_until,
)

DEFAULT_INTERVAL = "1s"
# How long ingest's own counters must cover, so the rates on the pipeline panels (5 s buckets)
# have several buckets to differ over.
INGEST_SPAN_S = 20.0

PANELS = [
    pytest.param(board, panel, id=f"{board.title} / {panel['title']}")
    for board in BOARDS
    for panel in board.panels
]
VARIABLES = [
    pytest.param(board, variable, id=f"{board.title} / ${variable['name']}")
    for board in BOARDS
    for variable in board.variables
]
RULES = [pytest.param(rule, id=rule["title"]) for rule in rules()]


# -- a real InfluxDB, filled by the real pipeline ----------------------------------------------


@dataclass(frozen=True)
class Floor:
    db: InfluxDB
    time_filter: str
    after: str  # a range after everything was written: what a stalled pipeline looks like


def window(start_s: float, end_s: float) -> str:
    """$timeFilter as Grafana writes it for an absolute time range."""
    return f"time >= {int(start_s * 1000)}ms and time <= {int(end_s * 1000)}ms"


def ingest_span(db: InfluxDB) -> tuple[float, int]:
    rows = db.query('SELECT "messages" FROM "ingest"', INFLUX_DATABASE)
    if not rows:
        return 0.0, 0
    times = [row["time"] for row in rows]
    return (max(times) - min(times)) / 1e9, rows[-1]["messages"]


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    """Three machines, two visits each by returning members, ending about now, so ingest's
    counters (stamped with the clock) and the floor's data (stamped from the recording) fall in
    one dashboard time range."""
    directory = tmp_path_factory.mktemp("dashboards")
    start = time.time() - 420.0
    simulation = simulate(SimulationPlan(seed=11, machines=3, visits=2, members=2, start=start))
    recording = write_recording(directory / "floor.jsonl", simulation.messages)
    reports = analyzed(recording)
    assert any(r["faults"] for r in reports), "the recording needs faulty reps"
    assert any(r["member_id"] for r in reports), "the recording needs members' sessions"
    messages = len(recording.read_text().splitlines())

    with (
        influx_for_ingest(directory / "influxdb") as (db, forwarder),
        Mosquitto(directory / "broker") as broker,
    ):
        with ingest(broker, directory, **influx_env(forwarder.url)) as service:
            service.wait_for_log("subscribed")
            # Paced over about 12 s, so ingest's counters grow across several checkpoints.
            with replay(broker, recording, recording_span(recording) / 12.0) as publisher:
                assert publisher.process is not None and publisher.process.wait(120) == 0
            wait_until(
                lambda: len(db.query('SELECT "rep" FROM "rep"', INFLUX_DATABASE)) >= len(reports),
                60,
                "every rep in influxdb",
            )
            wait_until(
                lambda: (span := ingest_span(db))[0] >= INGEST_SPAN_S and span[1] == messages,
                60,
                "ingest's counters over a stretch of time, with every message counted",
            )
            assert service.stop() == 0
        now = time.time()
        yield Floor(db, window(start - 60.0, now + 60.0), window(now + 3600.0, now + 7200.0))


def fill(query: str, values: dict[str, str], time_filter: str, interval: str) -> str:
    query = query.replace("$timeFilter", time_filter).replace("$__interval", interval)
    # Longest names first, so $machine is never taken for a $m followed by "achine".
    for name in sorted(values, key=len, reverse=True):
        query = query.replace(f"${name}", values[name])
    assert "$" not in query.replace("$/", "/"), f"unfilled macro or variable in {query}"
    return query


def tag_values(floor: Floor, query: str) -> list[str]:
    series = floor.db.series(query, INFLUX_DATABASE)
    return sorted(str(value) for s in series for _, value in s["values"])


def resolve(floor: Floor, board: Board) -> dict[str, str]:
    """Each variable's value, from its own query in order (a later one may use an earlier):
    all values as a regular expression where the variable offers "All", else the first."""
    values: dict[str, str] = {}
    for variable in board.variables:
        options = tag_values(floor, fill(variable["query"], values, floor.time_filter, "1s"))
        assert options, f"${variable['name']} has no values: {variable['query']}"
        if variable.get("includeAll"):
            values[variable["name"]] = "(" + "|".join(re.escape(o) for o in options) + ")"
        else:
            values[variable["name"]] = options[0]
    return values


@pytest.mark.parametrize(("board", "variable"), VARIABLES)
def test_a_variable_lists_what_the_pipeline_wrote(
    floor: Floor, board: Board, variable: dict[str, Any]
) -> None:
    earlier = board.variables[: board.variables.index(variable)]
    values = resolve(floor, Board(board.path, {**board.document, "templating": {"list": earlier}}))
    options = tag_values(floor, fill(variable["query"], values, floor.time_filter, "1s"))
    assert options and all(options)


def numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_series(series: list[dict[str, Any]], query: str) -> list[Any]:
    """Series of time and numbers (or gaps); returns the numbers that are there."""
    assert series, f"no data: {query}"
    found = []
    for s in series:
        assert s["columns"][0] == "time" and len(s["columns"]) > 1, s["columns"]
        for row in s["values"]:
            assert isinstance(row[0], int)
            assert all(v is None or numeric(v) for v in row[1:]), (query, row)
            found += [v for v in row[1:] if v is not None]
    assert found, f"only gaps: {query}"
    return found


def check_time_series(series: list[dict[str, Any]], query: str) -> None:
    check_series(series, query)


def check_stat(series: list[dict[str, Any]], query: str) -> None:
    check_series(series, query)
    for s in series:  # the stat shows each series' last value
        assert any(v is not None for v in s["values"][-1][1:]), (query, s)


def check_histogram(series: list[dict[str, Any]], query: str) -> None:
    assert len(check_series(series, query)) >= 2, f"one value is no distribution: {query}"


def check_table(series: list[dict[str, Any]], query: str) -> None:
    assert series and series[0]["values"], f"no rows: {query}"
    for s in series:
        assert len(s["columns"]) > 1
        for row in s["values"]:
            assert len(row) == len(s["columns"]) and any(v is not None for v in row[1:])


SHAPES = {
    "timeseries": check_time_series,
    "stat": check_stat,
    "histogram": check_histogram,
    "table": check_table,
}


@pytest.mark.parametrize(("board", "panel"), PANELS)
def test_every_panel_query_returns_what_its_panel_draws(
    floor: Floor, board: Board, panel: dict[str, Any]
) -> None:
    assert panel["type"] in SHAPES, f"no check for a {panel['type']} panel"
    values = resolve(floor, board)
    interval = panel.get("interval") or DEFAULT_INTERVAL
    for target in panel["targets"]:
        query = fill(target["query"], values, floor.time_filter, interval)
        series = floor.db.series(query, INFLUX_DATABASE)
        if target.get("resultFormat") == "table":
            check_table(series, query)
        else:
            SHAPES[panel["type"]](series, query)


def test_the_datasource_as_grafana_reads_it_reaches_the_database(
    floor: Floor, tmp_path: Path
) -> None:
    """Grafana fills ${...} from its environment and $__file{...} from its token file; with
    gymfloor's settings that is a database that holds every measurement the dashboards read,
    asked with the token header."""
    (tmp_path / "token").write_text("test-token\n")
    source = grafana_reads(datasource(), influx_env(floor.db.url), tmp_path)
    assert source["url"] == floor.db.url
    header = {source["jsonData"]["httpHeaderName1"]: source["secureJsonData"]["httpHeaderValue1"]}
    assert header == {"Authorization": "Token test-token"}
    measurements = {
        value
        for s in floor.db.series("SHOW MEASUREMENTS", source["jsonData"]["dbName"], header)
        for (value,) in s["values"]
    }
    read = {
        m
        for board in BOARDS
        for panel in board.panels
        for target in panel["targets"]
        for m in re.findall(r'FROM "(\w+)"', target["query"])
    }
    assert read and read <= measurements


def evaluate(rule: dict[str, Any], series: list[dict[str, Any]]) -> bool | None:
    """The rule's reduce and threshold steps over query A's series: whether it fires, None for
    no data."""
    steps = {step["refId"]: step["model"] for step in rule["data"]}
    reduce, threshold = steps["B"], steps[rule["condition"]]
    assert (reduce["expression"], threshold["expression"]) == ("A", "B")
    if not series:
        return None
    fired = []
    for s in series:
        numbers = [row[1] for row in s["values"] if row[1] is not None]
        value = sum(numbers) if reduce["reducer"] == "sum" else numbers[-1]
        (condition,) = threshold["conditions"]
        kind, (limit,) = condition["evaluator"]["type"], condition["evaluator"]["params"]
        fired.append(value > limit if kind == "gt" else value < limit)
    return any(fired)


# Over the recorded floor, critical form alerts were raised and ingest kept reporting; after
# it stopped, there is nothing, which the silent-ingest rule must take as its alarm.
FIRES_DURING = {"gymfloor-critical-alerts": True, "gymfloor-ingest-silent": False}
NO_DATA_AFTER = {"gymfloor-critical-alerts": "OK", "gymfloor-ingest-silent": "Alerting"}


@pytest.mark.parametrize("rule", RULES)
def test_an_alert_rule_query_runs_and_decides_as_meant(floor: Floor, rule: dict[str, Any]) -> None:
    (query,) = [step for step in rule["data"] if step["datasourceUid"] != "__expr__"]
    text = query["model"]["query"]
    during = floor.db.series(fill(text, {}, floor.time_filter, DEFAULT_INTERVAL), INFLUX_DATABASE)
    check_series(during, text)
    assert evaluate(rule, during) is FIRES_DURING[rule["uid"]]
    after = floor.db.series(fill(text, {}, floor.after, DEFAULT_INTERVAL), INFLUX_DATABASE)
    assert evaluate(rule, after) is None
    assert rule["noDataState"] == NO_DATA_AFTER[rule["uid"]]
