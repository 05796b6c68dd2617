"""The analysis's decoding, in chunks: every line decodes as the live service decodes it, skipped
lines keep their reasons, and decoding ahead in a second process gives the same, in order."""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator

import numpy as np
import pytest

from gymfloor import decode_ahead
from gymfloor.analyze import analyze, analyze_decoded
from gymfloor.contract import (
    ContractError,
    MachineChannel,
    SessionPayload,
    TelemetryBatch,
    TopicError,
    decode_line,
    decode_session,
    decode_status,
    decode_telemetry,
    encode_line,
    parse_machine_topic,
)
from gymfloor.decode_ahead import (
    Chunk,
    DecodingFailed,
    Skipped,
    decode_chunks,
    decoded_ahead,
    decoded_here,
    messages,
)
from gymfloor.detector import Detector
from gymfloor_edge.simulator import SimulationPlan, simulate

TELEMETRY = "gymfloor/v1/g1/lp-01/telemetry"


def recording() -> list[bytes]:
    """A simulated recording with every kind of line the analysis meets mixed in."""
    sim = simulate(SimulationPlan(seed=5, machines=2, visits=1))
    lines = [encode_line(m.topic, m.payload, round(m.t, 4)).encode() + b"\n" for m in sim.messages]
    status = "gymfloor/v1/g1/lp-01/status"
    seat = {"v": 1, "seq": 1, "t0": 1764064800.0, "hz": 50.0, "sled_mm": [1.0, None]}
    odd = [
        b"{not json\n",
        b"\n",
        {"topic": TELEMETRY, "payload": {"v": 1}},
        {"topic": "elsewhere/x", "payload": {}},
        {"topic": TELEMETRY, "payload": seat | {"lumbar_kpa": [2.0, NaN]}},
        {"topic": TELEMETRY, "payload": seat | {"lumbar_kpa": [2, 2.5], "sacral_kpa": [None, 3]}},
        {"topic": status, "payload": {"v": 1, "state": "on"}},
        {"topic": status, "payload": {"v": 1, "state": "online"}},
        {"topic": "gymfloor/v1/g1/lp-01/feedback", "payload": {"anything": 1}},
    ]
    for at, line in enumerate(odd):
        lines.insert(40 * at + 3, line if isinstance(line, bytes) else json.dumps(line).encode())
    return lines


NaN = math.nan


def as_dispatch_decodes(lines: list[bytes]) -> Iterator[tuple[int, object]]:
    """What the live service (`dispatch`) makes of each line, the way the analysis did before."""
    for line_no, raw in enumerate(lines, start=1):
        try:
            message = decode_line(raw)
        except ContractError as exc:
            yield line_no, Skipped(exc.reason, exc.column)
            continue
        if message is None:
            continue
        try:
            _, channel = parse_machine_topic(message.topic)
            if channel is MachineChannel.TELEMETRY:
                yield line_no, decode_telemetry(message.payload)
            elif channel is MachineChannel.SESSION:
                yield line_no, decode_session(message.payload)
            else:
                if channel is MachineChannel.STATUS:
                    decode_status(message.payload)
                yield line_no, None
        except (ContractError, TopicError) as exc:
            yield line_no, Skipped(f"{message.topic}: {exc}")


def same(a: object, b: object) -> bool:
    if isinstance(a, TelemetryBatch) and isinstance(b, TelemetryBatch):
        arrays = ("sled_mm", "lumbar_kpa", "sacral_kpa")
        plain = [f for f in a.__struct_fields__ if f not in arrays]
        return all(getattr(a, f) == getattr(b, f) for f in plain) and all(
            (getattr(a, f) is None and getattr(b, f) is None)
            or np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
            for f in arrays
        )
    return a == b


def decoded(chunks: Iterator[Chunk]) -> list[tuple[int, object]]:
    return [(line_no, item) for line_no, _, item in messages(chunks)]


@pytest.mark.parametrize("way", ["here", "in chunks"])
def test_every_line_decodes_as_the_live_service_decodes_it(way: str) -> None:
    lines = recording()
    expected = list(as_dispatch_decodes(lines))
    got: list[tuple[int, object]] = (
        [(line_no, item) for line_no, _, item in decoded_here(lines)]
        if way == "here"
        else decoded(decode_chunks(lines))
    )
    assert [n for n, _ in got] == [n for n, _ in expected]
    assert all(same(a, b) for (_, a), (_, b) in zip(got, expected, strict=True))
    kinds = {type(item).__name__ for _, item in got}
    assert kinds == {"TelemetryBatch", "SessionPayload", "Skipped", "NoneType"}
    reasons = [item.reason for _, item in got if isinstance(item, Skipped)]
    assert len(reasons) == 5 and any("NaN" in r or "nan" in r for r in reasons)
    assert any(isinstance(i, TelemetryBatch) and i.sacral_kpa is not None for _, i in got)


def test_each_message_is_given_its_machine() -> None:
    lines = recording()
    for (line_no, key, item), (_, here, _) in zip(
        messages(decode_chunks(lines)), decoded_here(lines), strict=True
    ):
        assert key == here
        if isinstance(item, TelemetryBatch | SessionPayload):
            topic = json.loads(lines[line_no - 1])["topic"]
            assert key == parse_machine_topic(topic)[0]
        elif isinstance(item, Skipped):
            assert key is None


def test_where_chunks_end_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = recording()
    whole = decoded(decode_chunks(lines))
    monkeypatch.setattr(decode_ahead, "CHUNK_LINES", 7)
    monkeypatch.setattr(decode_ahead, "CHUNK_SAMPLES", 50)
    assert len(list(decode_chunks(lines))) > 50
    small = decoded(decode_chunks(lines))
    assert all(same(a, b) and m == n for (m, a), (n, b) in zip(small, whole, strict=True))


def test_decoding_ahead_gives_the_same_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = recording()
    monkeypatch.setattr(decode_ahead, "CHUNK_LINES", 16)  # many chunks through the pipe
    here = decoded(decode_chunks(lines))
    with decoded_ahead(lines) as chunks:
        there = decoded(chunks)
    assert all(same(a, b) and m == n for (m, a), (n, b) in zip(there, here, strict=True))


def test_the_analysis_is_the_same_decoded_ahead() -> None:
    lines = recording()
    skipped_here: list[int] = []
    skipped_there: list[int] = []
    here = list(analyze(lines, Detector(), lambda n, _: skipped_here.append(n)))
    with decoded_ahead(lines) as chunks:
        there = list(
            analyze_decoded(messages(chunks), Detector(), lambda n, _: skipped_there.append(n))
        )
    assert here and there == here
    assert skipped_there == skipped_here and len(skipped_here) == 5


def test_a_failure_while_decoding_ahead_is_raised_with_its_reason() -> None:
    def lines() -> Iterator[bytes]:
        yield from recording()[:10]
        raise OSError("the disk went away")

    with (
        pytest.raises(DecodingFailed, match="the disk went away"),
        decoded_ahead(lines()) as chunks,
    ):
        list(chunks)


def test_leaving_early_stops_the_decoding_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_ahead, "CHUNK_LINES", 4)
    monkeypatch.setattr(decode_ahead, "AHEAD_CHUNKS", 1)  # it soon waits for the analysis
    lines = recording() * 20
    with decoded_ahead(lines) as chunks:
        first = next(chunks)
    assert len(first.line_no) == 4  # and the block was left: the process is stopped


def test_leaving_early_stops_a_decoding_process_waiting_for_lines() -> None:
    read_fd, write_fd = os.pipe()  # like stdin from a producer that is still going
    os.write(write_fd, b"".join(recording()[:3]))
    try:
        with os.fdopen(read_fd, "rb") as source, decoded_ahead(source):
            pass  # left before the first chunk, which the process is still waiting to fill
    finally:
        os.close(write_fd)


def test_a_chunk_cut_short_is_a_failure_not_a_garbled_chunk() -> None:
    whole = decode_ahead._frame(next(decode_chunks(recording())))
    for cut in (whole[:5], whole[: len(whole) // 2]):
        with pytest.raises(DecodingFailed):
            list(decode_ahead._received(io.BytesIO(cut), []))
