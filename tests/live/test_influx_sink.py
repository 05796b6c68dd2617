"""`gymfloor ingest` writing to a real InfluxDB (Debian's 1.6.7 behind the /api/v2/write
forwarder), through an outage of InfluxDB and a kill of ingest."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from gymfloor.contract import (
    MachineChannel,
    MachineKey,
    StaffAlert,
    decode_telemetry,
    parse_machine_topic,
)
from gymfloor.ingest.pipeline import downsample
from gymfloor.outputs import Trace
from gymfloor.status import TimeseriesHealth
from tests.support.floor import Report, exported, recording_span, stored, stored_count
from tests.support.processes import (
    INFLUX_DATABASE,
    InfluxDB,
    InfluxForwarder,
    Mosquitto,
    influx_env,
    influx_for_ingest,
    ingest,
    replay,
    wait_until,
)


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[tuple[InfluxDB, InfluxForwarder]]:
    with influx_for_ingest(tmp_path / "influxdb") as started:
        yield started


def traced_to(forwarder: InfluxForwarder, trace_hz: float) -> dict[str, str]:
    """Ingest's settings for writing to InfluxDB, the trace at `trace_hz`."""
    return influx_env(forwarder.url, GYMFLOOR_INGEST__TRACE_HZ=str(trace_hz))


def expected_trace(recording: Path, hz: float) -> dict[str, set[int]]:
    """Each machine's trace buckets with a sled sample, as the pipeline's downsampling (tested in
    tests/unit/test_influx_sink.py) makes them from the recording."""
    traces: dict[MachineKey, Trace] = {}
    for line in recording.read_text().splitlines():
        message = json.loads(line)
        key, channel = parse_machine_topic(message["topic"])
        if channel is MachineChannel.TELEMETRY:
            batch = decode_telemetry(message["payload"])
            downsample(traces, key, batch, round(1e9 / hz), math.nan)
    return {
        key.machine_id: {
            t for t, sled in zip(trace.t_ns, trace.sled_mm, strict=True) if math.isfinite(sled)
        }
        for key, trace in traces.items()
    }


def sink_health(data_dir: Path) -> TimeseriesHealth | None:
    with stored(data_dir) as store:
        statuses = store.ingest_statuses()
    return statuses[0].health.timeseries if statuses else None


def counts(db: InfluxDB, measurement: str, field: str, by: str) -> dict[str, int]:
    rows = db.query(
        f'SELECT count("{field}") FROM "{measurement}" GROUP BY "{by}"', INFLUX_DATABASE
    )
    return {row[by]: row["count"] for row in rows}


def stored_alerts(data_dir: Path) -> list[StaffAlert]:
    with stored(data_dir) as store:
        return store.alerts()


def near(t_ns: int, t: float) -> bool:
    return abs(t_ns - t * 1e9) < 1000


def test_ingest_writes_reps_alerts_status_trace_and_its_counters_to_influxdb(
    recording: Path,
    expected: list[Report],
    influx: tuple[InfluxDB, InfluxForwarder],
    tmp_path: Path,
) -> None:
    db, forwarder = influx
    hz = 5.0
    with (
        Mosquitto(tmp_path / "broker") as broker,
        ingest(broker, tmp_path, **traced_to(forwarder, hz)) as service,
    ):
        service.wait_for_log("subscribed")
        with replay(broker, recording) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        wait_until(
            lambda: sum(counts(db, "rep", "rom_mm", "machine_id").values()) >= len(expected),
            60,
            "every rep in influxdb",
        )
        assert service.stop() == 0
    stored = exported(tmp_path)
    assert stored == expected

    reps = sorted(
        db.query("SELECT * FROM rep", INFLUX_DATABASE), key=lambda r: (r["machine_id"], r["time"])
    )
    assert len(reps) == len(stored)
    for point, rep in zip(reps, stored, strict=True):
        assert point["machine_id"] == rep["machine_id"] and near(point["time"], rep["t_start"])
        for name in ("member_id", "session_id", "rep", "rom_mm", "eccentric_s", "concentric_s"):
            assert point[name] == rep[name], name
        assert point["min_lumbar_ratio"] == rep["min_lumbar_ratio"]
        assert point["faults"] == len(rep["faults"])
        for fault in ("lumbar_liftoff", "excessive_rom", "uncontrolled_descent"):
            assert point[fault] == int(fault in rep["faults"])

    with_member = [r for r in stored if r["member_id"] is not None]
    assert with_member
    member_counts = counts(db, "member_rep", "rom_mm", "member_id")
    assert member_counts == {
        m: sum(r["member_id"] == m for r in with_member)
        for m in {r["member_id"] for r in with_member}
    }

    alerts = sorted(stored_alerts(tmp_path), key=lambda a: a.id)
    points = sorted(db.query("SELECT * FROM alert", INFLUX_DATABASE), key=lambda p: p["id"])
    assert alerts and len(points) == len(alerts)
    for point, a in zip(points, alerts, strict=True):
        assert (point["id"], point["machine_id"], point["kind"], point["message"]) == (
            a.id,
            a.machine_id,
            a.kind,
            a.message,
        )
        assert point["severity"] == a.severity.value and near(point["time"], a.t)

    machines = {r["machine_id"] for r in stored}
    statuses = db.query(
        'SELECT last("state") FROM machine_status GROUP BY machine_id', INFLUX_DATABASE
    )
    assert {row["machine_id"]: row["last"] for row in statuses} == dict.fromkeys(machines, "online")

    trace = counts(db, "trace", "sled_mm", "machine_id")
    assert trace == {m: len(b) for m, b in expected_trace(recording, hz).items()}
    for machine in machines:  # about trace_hz over the machine's stretch of telemetry
        times = [
            r["time"]
            for r in db.query(
                f"SELECT sled_mm FROM trace WHERE machine_id = '{machine}'", INFLUX_DATABASE
            )
        ]
        rate = len(times) / ((max(times) - min(times)) / 1e9)
        assert 0.8 * hz < rate <= 1.01 * hz

    (health,) = db.query("SELECT last(*) FROM ingest", INFLUX_DATABASE)
    assert health["last_reps"] == len(expected)
    assert health["last_messages"] == len(recording.read_text().splitlines())


def spool_backlog_bytes(spool_dir: Path) -> int:
    """Bytes spooled and not yet acknowledged, from the spool's files and its read position."""
    progress = spool_dir / "progress"
    segment, offset = map(int, progress.read_text().split()) if progress.exists() else (0, 0)
    sizes = {int(p.stem): p.stat().st_size for p in spool_dir.glob("*.lp")}
    return sum(size for n, size in sizes.items() if n >= segment) - (
        offset if segment in sizes else 0
    )


def test_points_survive_an_influxdb_outage_and_a_kill_of_ingest_and_arrive_once(
    recording: Path,
    expected: list[Report],
    influx: tuple[InfluxDB, InfluxForwarder],
    tmp_path: Path,
) -> None:
    db, forwarder = influx
    hz = 10.0
    spool_dir = tmp_path / "influx-spool"
    speed = recording_span(recording) / 12.0  # the replay takes about 12 s
    with Mosquitto(tmp_path / "broker") as broker:
        service = ingest(broker, tmp_path, **traced_to(forwarder, hz)).start()
        service.wait_for_log("subscribed")
        with replay(broker, recording, speed) as publisher:
            wait_until(lambda: bool(counts(db, "trace", "sled_mm", "machine_id")), 30, "points")
            db.kill()
            service.wait_for_log("cannot write to influxdb")
            # Long enough that most of the backlog is older than the last checkpoint, past what
            # a journal replay after the kill derives again: only the spool has it.
            halfway = (stored_count(tmp_path) + len(expected)) // 2
            wait_until(lambda: stored_count(tmp_path) >= halfway, 60, "reps during the outage")
            backlog = spool_backlog_bytes(spool_dir)
            assert backlog > 0
            service.kill()  # with that backlog in the spool
            assert spool_backlog_bytes(spool_dir) >= backlog
            service.start()
            service.wait_for_log("cannot write to influxdb")  # still down
            assert publisher.process is not None and publisher.process.wait(120) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        db.start()  # the same port and data
        service.wait_for_log("influxdb reachable again")
        wait_until(lambda: spool_backlog_bytes(spool_dir) == 0, 120, "the spool to drain")
        # What ingest reports for /metrics and /readyz: the outage counted, then caught up. Each
        # report follows the checkpoint's own `ingest` point into the spool, which the sender
        # may not have sent yet: caught up is a backlog of at most that one point.
        wait_until(
            lambda: (
                (h := sink_health(tmp_path)) is not None and h.reachable and h.backlog_points <= 1
            ),
            30,
            "ingest to report the drained spool",
        )
        health = sink_health(tmp_path)
        assert health is not None and health.write_errors > 0 and health.points_written > 0
        assert service.stop() == 0
    assert exported(tmp_path) == expected

    # Every point once: no fewer (nothing lost) and no more (replays overwrote themselves).
    reps = db.query("SELECT rom_mm, machine_id FROM rep", INFLUX_DATABASE)
    assert len({(r["machine_id"], r["time"]) for r in reps}) == len(reps) == len(expected)
    assert sorted((r["machine_id"], r["time"]) for r in reps) == [
        (r["machine_id"], round(r["t_start"] * 1e6) * 1000) for r in expected
    ]
    assert sum(counts(db, "member_rep", "rom_mm", "member_id").values()) == sum(
        r["member_id"] is not None for r in expected
    )
    assert sum(counts(db, "alert", "count", "machine_id").values()) == len(stored_alerts(tmp_path))
    assert counts(db, "trace", "sled_mm", "machine_id") == {
        m: len(b) for m, b in expected_trace(recording, hz).items()
    }
    assert set(counts(db, "machine_status", "online", "machine_id")) == {
        r["machine_id"] for r in expected
    }
