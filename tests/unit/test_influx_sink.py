"""The InfluxDB sink without InfluxDB: its line protocol and its spool. In
tests/live/test_influx_sink.py, `gymfloor ingest` writes to a real InfluxDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gymfloor.contract import MachineKey, RepReport, Severity, StaffAlert
from gymfloor.contract.payloads import TelemetryBatch
from gymfloor.ingest.pipeline import downsample
from gymfloor.outputs import Changes, MachineStatus, Trace
from gymfloor.storage.timeseries.points import (
    alert_point,
    changes_lines,
    rep_points,
    status_point,
    trace_lines,
)
from gymfloor.storage.timeseries.spool import Spool

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
    traces: dict[MachineKey, Trace] = {}
    downsample(traces, KEY, batch(t0), period, 2.0)
    assert traces[KEY].sled_mm == [107.0]  # at .107, the first in the bucket from .100
    assert traces[KEY].lumbar_ratio == [1.07 / 2.0]
    for i in range(1, 50):
        downsample(traces, KEY, batch(t0 + i * 0.1), period, 2.0)
    first = (round(t0 * 1e6) * 1000 // period + 1) * period
    assert traces[KEY].t_ns == list(range(first, first + 50 * period, period))


def test_changes_become_one_line_per_point() -> None:
    changes = Changes(
        reports=[report(), report(member=None)],
        alerts=[alert("lift-off")],
        machines={KEY: MachineStatus("online", T, T)},
    )
    downsample(changes.trace, KEY, batch(T), 100_000_000, 2.0)
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
