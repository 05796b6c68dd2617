"""The InfluxDB sink: its line protocol, its spool, and `gymfloor ingest` writing to a real
InfluxDB (Debian's 1.6.7 behind the /api/v2/write forwarder), through an outage of InfluxDB and
a kill of ingest."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gymfloor.contract import (
    MachineChannel,
    MachineKey,
    RepReport,
    Severity,
    StaffAlert,
    decode_telemetry,
    parse_machine_topic,
)
from gymfloor.contract.payloads import TelemetryBatch
from gymfloor.ingest.pipeline import downsample
from gymfloor.outputs import Changes, MachineStatus, Trace
from gymfloor.status import TimeseriesHealth
from gymfloor.storage import OperationalStore
from gymfloor.storage.timeseries.points import (
    alert_point,
    changes_lines,
    rep_points,
    status_point,
    trace_lines,
)
from gymfloor.storage.timeseries.spool import Spool
from tests.support.processes import (
    InfluxDB,
    InfluxForwarder,
    Mosquitto,
    Report,
    exported,
    ingest,
    recording_span,
    replay,
    stored_count,
    wait_until,
)

KEY = MachineKey("g1", "lp-03")
T = 1764064836.79

# -- line protocol -----------------------------------------------------------------------------


def report(member: str | None = "m-1042") -> RepReport:
    return RepReport(
        gym_id="g1",
        machine_id="lp-03",
        session_id="s-8f2" if member else None,
        member_id=member,
        rep=4,
        t_start=T,
        t_bottom=T + 1.2,
        t_end=T + 2.2,
        rom_mm=412.5,
        eccentric_s=1.21,
        concentric_s=1.0,
        min_lumbar_ratio=0.42,
        faults=["lumbar_liftoff", "uncontrolled_descent"],
        load_kg=160,
        baseline_kpa=5.2,
        tilt_onset_mm=380.0,
        peak_descent_mm_s=710.0,
    )


def test_a_rep_is_a_machine_point_and_a_member_point_with_fault_flags() -> None:
    machine, member = (p.to_line_protocol() for p in rep_points(report()))
    # Point writes 1.0 as 1, still a float: line protocol marks integers with an i.
    fields = (
        "baseline_kpa=5.2,concentric_s=1,eccentric_s=1.21,excessive_rom=0i,faults=2i,"
        "load_kg=160,lumbar_liftoff=1i,{who},min_lumbar_ratio=0.42,peak_descent_mm_s=710,rep=4i,"
        'rom_mm=412.5,session_id="s-8f2",tilt_onset_mm=380,uncontrolled_descent=1i '
        "1764064836790000000"
    )
    assert machine == "rep,gym_id=g1,machine_id=lp-03 " + fields.format(who='member_id="m-1042"')
    assert member == "member_rep,gym_id=g1,member_id=m-1042 " + fields.format(
        who='machine_id="lp-03"'
    )


def test_an_anonymous_rep_has_no_member_point_and_no_member_field() -> None:
    (machine,) = rep_points(report(member=None))
    line = machine.to_line_protocol()
    assert line.startswith("rep,gym_id=g1,machine_id=lp-03 ")
    assert "member_id" not in line and "session_id" not in line


def alert(message: str) -> StaffAlert:
    return StaffAlert(
        id="9b1e",
        t=T,
        gym_id="g1",
        machine_id="lp-03",
        session_id=None,
        member_id=None,
        severity=Severity.CRITICAL,
        kind="lumbar_liftoff",
        message=message,
        rep=4,
        load_kg=160,
        count=2,
    )


def test_an_alert_is_tagged_by_machine_severity_and_kind_and_its_message_escaped() -> None:
    line = alert_point(alert('lp-03: lower back off the pad, "160 kg" \\ heavy')).to_line_protocol()
    assert line == (
        "alert,gym_id=g1,kind=lumbar_liftoff,machine_id=lp-03,severity=critical "
        'count=2i,id="9b1e",load_kg=160,'
        'message="lp-03: lower back off the pad, \\"160 kg\\" \\\\ heavy",rep=4i '
        "1764064836790000000"
    )


def test_a_machine_status_is_stamped_with_the_last_message() -> None:
    status = MachineStatus("online", 1764064800.5, 1764064836.25)
    assert status_point(KEY, status).to_line_protocol() == (
        'machine_status,gym_id=g1,machine_id=lp-03 online=1i,state="online",'
        "state_since=1764064800.5 1764064836250000000"
    )


def test_a_trace_bucket_leaves_out_a_dropped_sample() -> None:
    trace = Trace(
        KEY,
        [1764064836_700_000_000, 1764064836_800_000_000, 1764064836_900_000_000],
        [250.5, np.nan, np.nan],
        [5.21, 4.9, np.nan],
        [0.95, np.nan, np.nan],
    )
    assert trace_lines(trace) == [
        "trace,gym_id=g1,machine_id=lp-03 lumbar_kpa=5.21,lumbar_ratio=0.95,sled_mm=250.5 "
        "1764064836700000000",
        "trace,gym_id=g1,machine_id=lp-03 lumbar_kpa=4.9 1764064836800000000",
    ]


def batch(t0: float, n: int = 10, hz: float = 100.0) -> TelemetryBatch:
    sled = 100.0 + np.arange(n, dtype=np.float64)
    return TelemetryBatch(1, None, t0, hz, sled, sled / 100.0, None, None)


def test_downsampling_gives_each_bucket_one_sample_though_buckets_straddle_batches() -> None:
    period = 100_000_000  # 10 Hz
    t0 = 1764064800.037  # batch boundaries fall inside buckets
    traces = [downsample(KEY, batch(t0 + i * 0.1), period, 2.0) for i in range(50)]
    times = [t for trace in traces for t in trace.t_ns]
    first = (round(t0 * 1e6) * 1000 // period + 1) * period
    assert times == list(range(first, first + 50 * period, period))
    assert traces[0].sled_mm == [107.0]  # at .107, the first in the bucket from .100
    assert traces[0].lumbar_ratio == [1.07 / 2.0]


def test_changes_become_one_line_per_point() -> None:
    changes = Changes(
        reports=[report(), report(member=None)],
        alerts=[alert("lift-off")],
        machines={KEY: MachineStatus("online", T, T)},
        trace=[downsample(KEY, batch(T), 100_000_000, 2.0)],
    )
    lines = changes_lines(changes)
    measurements = [line.split(",")[0] for line in lines]
    assert measurements == ["rep", "member_rep", "rep", "alert", "machine_status", "trace"]


# -- the spool ---------------------------------------------------------------------------------


def lines(start: int, count: int) -> list[str]:
    return [f"m,k=v f={i}i {i}" for i in range(start, start + count)]


def drain(spool: Spool, max_lines: int = 7) -> list[str]:
    got: list[str] = []
    while (chunk := spool.read(max_lines)) is not None:
        got += chunk.body.decode().splitlines()
        spool.ack(chunk)
    return got


def test_the_spool_gives_back_what_was_appended_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=200)
    for start in range(0, 100, 10):
        spool.append(lines(start, 10))
    assert spool.backlog == 100
    assert len(list(tmp_path.glob("*.lp"))) > 5
    assert drain(spool) == lines(0, 100)
    assert spool.backlog == 0
    assert len(list(tmp_path.glob("*.lp"))) == 1  # sent segments are deleted, the active kept
    spool.close()


def test_an_unacknowledged_chunk_comes_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(lines(0, 5))
    first = spool.read(3)
    assert first is not None and first.lines == 3
    assert spool.read(3) == first
    spool.ack(first)
    assert drain(spool) == lines(3, 2)
    spool.close()


def test_the_read_position_survives_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=200)
    spool.append(lines(0, 30))
    sent = spool.read(12)
    assert sent is not None
    spool.ack(sent)
    in_flight = spool.read(5)  # not acknowledged when the process dies
    spool.close()

    reopened = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=200)
    assert reopened.backlog == 18
    assert reopened.read(5) == in_flight  # sent again: at most one chunk twice
    reopened.append(lines(30, 3))
    assert drain(reopened) == lines(12, 21)
    reopened.close()


def test_a_full_spool_drops_its_oldest_points_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2000, segment_bytes=500)
    for start in range(0, 300, 10):
        spool.append(lines(start, 10))
    on_disk = sum(path.stat().st_size for path in tmp_path.glob("*.lp"))
    assert on_disk <= 2000
    assert spool.points_dropped > 0
    assert spool.backlog == 300 - spool.points_dropped
    kept = drain(spool)
    assert kept == lines(300 - len(kept), len(kept))  # the newest, in order
    spool.close()


def test_a_chunk_whose_segment_was_dropped_meanwhile_is_not_acknowledged_twice(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=2000, segment_bytes=500)
    spool.append(lines(0, 10))
    in_flight = spool.read(5)
    assert in_flight is not None
    for start in range(10, 300, 10):
        spool.append(lines(start, 10))
    backlog = spool.backlog
    spool.ack(in_flight)
    assert spool.backlog == backlog
    assert spool.backlog == 300 - spool.points_dropped
    spool.close()


# -- gymfloor ingest against a real InfluxDB ---------------------------------------------------


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[tuple[InfluxDB, InfluxForwarder]]:
    with InfluxDB(tmp_path / "influxdb") as db, InfluxForwarder(db.url) as forwarder:
        db.query("CREATE DATABASE gymfloor")
        yield db, forwarder


def influx_env(forwarder: InfluxForwarder, trace_hz: float) -> dict[str, str]:
    return {
        "GYMFLOOR_INFLUX__URL": forwarder.url,
        "GYMFLOOR_INFLUX__BUCKET": "gymfloor",
        "GYMFLOOR_INFLUX__TOKEN": "test-token",
        "GYMFLOOR_INGEST__TRACE_HZ": str(trace_hz),
    }


def expected_trace(recording: Path, hz: float) -> dict[str, set[int]]:
    """Each machine's trace buckets with a sled sample, as the pipeline's downsampling (tested
    above) makes them from the recording."""
    buckets: dict[str, set[int]] = defaultdict(set)
    for line in recording.read_text().splitlines():
        message = json.loads(line)
        key, channel = parse_machine_topic(message["topic"])
        if channel is MachineChannel.TELEMETRY:
            trace = downsample(key, decode_telemetry(message["payload"]), round(1e9 / hz), math.nan)
            present = zip(trace.t_ns, trace.sled_mm, strict=True)
            buckets[key.machine_id].update(t for t, sled in present if math.isfinite(sled))
    return buckets


def sink_health(data_dir: Path) -> TimeseriesHealth | None:
    store = OperationalStore(f"sqlite:///{data_dir / 'gymfloor.db'}")
    try:
        statuses = store.ingest_statuses()
    finally:
        store.close()
    return statuses[0].health.timeseries if statuses else None


def counts(db: InfluxDB, measurement: str, field: str, by: str) -> dict[str, int]:
    rows = db.query(f'SELECT count("{field}") FROM "{measurement}" GROUP BY "{by}"', "gymfloor")
    return {row[by]: row["count"] for row in rows}


def stored_alerts(data_dir: Path) -> list[StaffAlert]:
    store = OperationalStore(f"sqlite:///{data_dir / 'gymfloor.db'}")
    try:
        return store.alerts()
    finally:
        store.close()


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
        ingest(broker, tmp_path, **influx_env(forwarder, hz)) as service,
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
        db.query("SELECT * FROM rep", "gymfloor"), key=lambda r: (r["machine_id"], r["time"])
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
    points = sorted(db.query("SELECT * FROM alert", "gymfloor"), key=lambda p: p["id"])
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
    statuses = db.query('SELECT last("state") FROM machine_status GROUP BY machine_id', "gymfloor")
    assert {row["machine_id"]: row["last"] for row in statuses} == dict.fromkeys(machines, "online")

    trace = counts(db, "trace", "sled_mm", "machine_id")
    assert trace == {m: len(b) for m, b in expected_trace(recording, hz).items()}
    for machine in machines:  # about trace_hz over the machine's stretch of telemetry
        times = [
            r["time"]
            for r in db.query(
                f"SELECT sled_mm FROM trace WHERE machine_id = '{machine}'", "gymfloor"
            )
        ]
        rate = len(times) / ((max(times) - min(times)) / 1e9)
        assert 0.8 * hz < rate <= 1.01 * hz

    (health,) = db.query("SELECT last(*) FROM ingest", "gymfloor")
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
        service = ingest(broker, tmp_path, **influx_env(forwarder, hz)).start()
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
    reps = db.query("SELECT rom_mm, machine_id FROM rep", "gymfloor")
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
