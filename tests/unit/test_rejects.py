"""Rejected messages: counted, logged once per source and interval with the span they really
covered, echoed sparingly, and a bounded memory of sources; the clock is the caller's."""

from __future__ import annotations

import pytest

from gymfloor.contract import MachineKey
from gymfloor.ingest.rejects import OTHER_SOURCES, RejectLog

KEY = MachineKey("g1", "lp-01")
T0 = 1_764_064_800.0  # 10:00:00 UTC


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rejected")]
    caplog.clear()
    return messages


def test_rejects_are_all_counted_but_logged_and_echoed_sparingly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rejects = RejectLog(log_interval_s=10.0, echo_per_s=5.0, echo_burst=20)
    echoes = [rejects.reject(KEY, "t", "bad", b"\xff" * 9000, T0 + i * 0.001) for i in range(5000)]
    sent = [e for e in echoes if e is not None]
    assert rejects.total == 5000
    assert 20 <= len(sent) <= 20 + 5 * 5 + 1
    assert sent[0].raw_encoding == "base64" and sent[0].raw_truncated
    assert lines(caplog) == ["rejected a message from g1/lp-01: bad"]


def test_held_back_rejects_are_reported_when_the_interval_ends_with_their_true_span(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rejects = RejectLog(log_interval_s=10.0)
    for t in (0.0, 1.0, 2.5):
        rejects.reject(KEY, "t", f"bad at {t}", b"x", T0 + t)
    assert lines(caplog) == ["rejected a message from g1/lp-01: bad at 0.0"]
    rejects.flush(T0 + 9.9)
    assert lines(caplog) == []  # the interval is not over
    rejects.flush(T0 + 95.0)  # long after: the span is still the rejects' own
    assert lines(caplog) == [
        "rejected 2 messages from g1/lp-01 between 10:00:01.000 and 10:00:02.500; "
        "latest: bad at 2.5"
    ]
    rejects.flush(T0 + 200.0)
    assert lines(caplog) == []  # nothing held, nothing repeated


def test_a_reject_after_the_interval_reports_those_held_with_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rejects = RejectLog(log_interval_s=10.0)
    for t in (0.0, 5.0, 12.0):
        rejects.reject(KEY, "t", "bad", b"x", T0 + t)
    assert lines(caplog) == [
        "rejected a message from g1/lp-01: bad",
        "rejected 2 messages from g1/lp-01 between 10:00:05.000 and 10:00:12.000; latest: bad",
    ]


def test_stopping_reports_every_source_held_back(caplog: pytest.LogCaptureFixture) -> None:
    rejects = RejectLog(log_interval_s=10.0)
    for machine in ("lp-01", "lp-02"):
        for t in (0.0, 1.0, 2.0):
            rejects.reject(MachineKey("g1", machine), "t", "bad", b"x", T0 + t)
    rejects.reject(None, "nonsense", "not a gymfloor topic", b"x", T0)
    caplog.clear()
    rejects.flush(T0 + 3.0, everything=True)
    assert sorted(lines(caplog)) == [
        "rejected 2 messages from g1/lp-01 between 10:00:01.000 and 10:00:02.000; latest: bad",
        "rejected 2 messages from g1/lp-02 between 10:00:01.000 and 10:00:02.000; latest: bad",
    ]


def test_the_top_sources_since_the_last_summary_are_named_with_their_counts() -> None:
    rejects = RejectLog()
    for machine, count in (("lp-01", 5), ("lp-02", 50), ("lp-03", 1), ("lp-04", 7)):
        for _ in range(count):
            rejects.reject(MachineKey("g1", machine), "t", "bad", b"x", T0)
    rejects.reject(None, "nonsense", "not a gymfloor topic", b"x", T0)
    assert rejects.take_top(3) == [("g1/lp-02", 50), ("g1/lp-04", 7), ("g1/lp-01", 5)]
    assert rejects.take_top(3) == []  # counted afresh from each summary
    rejects.reject(KEY, "t", "bad", b"x", T0 + 1)
    assert rejects.take_top(3) == [("g1/lp-01", 1)]


def test_a_device_inventing_sources_is_folded_into_one(caplog: pytest.LogCaptureFixture) -> None:
    rejects = RejectLog(log_interval_s=10.0, max_sources=10)
    for i in range(5000):
        rejects.reject(MachineKey("g1", f"fake-{i}"), "t", "bad", b"x", T0 + i * 0.001)
    named = {line.split(" from ")[1].split(":")[0] for line in lines(caplog)}
    assert len(named) == 11 and OTHER_SOURCES in named
    assert rejects.take_top(1) == [(OTHER_SOURCES, 4990)]
    rejects.flush(T0 + 20.0)
    assert lines(caplog) == [
        f"rejected 4989 messages from {OTHER_SOURCES} between 10:00:00.011 and 10:00:04.999; "
        "latest: bad"
    ]
    # Sources quiet for an interval are forgotten, so new ones are named again.
    rejects.flush(T0 + 40.0)
    rejects.reject(MachineKey("g1", "lp-new"), "t", "bad", b"x", T0 + 41.0)
    assert lines(caplog) == ["rejected a message from g1/lp-new: bad"]
