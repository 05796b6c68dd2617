"""The edge agent's batching, without a broker: what it hands its uplink."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator

import numpy as np

from gymfloor.contract import MachineKey, decode_session, decode_status, decode_telemetry
from gymfloor_edge.agent import EdgeAgent
from gymfloor_edge.driver import Frame, SessionChange
from gymfloor_edge.outbox import Outbox
from gymfloor_edge.uplink import status_payload

T0 = 1_764_064_800.0


class ListDriver:
    def __init__(self, readings: list[Frame | SessionChange]) -> None:
        self.items = readings

    def readings(self) -> Iterator[Frame | SessionChange]:
        yield from self.items

    def close(self) -> None:
        pass


class Captured:
    """An uplink that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.outbox = Outbox(None)

    def start(self) -> None:
        pass

    def send(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic.rsplit("/", 1)[1], json.loads(payload)))

    def close(self, timeout: float) -> None:
        pass


def frames(t0: float, count: int, per_frame: int = 7, hz: float = 100.0) -> list[Frame]:
    return [
        Frame(t0 + i * per_frame / hz, hz, [10.0] * per_frame, [5.0] * per_frame)
        for i in range(count)
    ]


def run(readings: list[Frame | SessionChange], interval: float) -> tuple[EdgeAgent, Captured]:
    uplink = Captured()
    agent = EdgeAgent(MachineKey("g1", "lp-01"), ListDriver(readings), uplink, interval)  # type: ignore[arg-type]
    agent.run(threading.Event())
    return agent, uplink


def test_samples_are_cut_into_batches_of_the_configured_duration() -> None:
    agent, uplink = run(list(frames(T0, 30)), interval=0.3)  # 210 samples in frames of 7
    batches = [payload for channel, payload in uplink.sent]
    assert [len(b["sled_mm"]) for b in batches] == [30] * 7
    assert [b["seq"] for b in batches] == list(range(batches[0]["seq"], batches[0]["seq"] + 7))
    assert all(b["boot"] == agent.boot for b in batches)
    for i, batch in enumerate(batches):  # valid contract batches, each starting where it should
        assert decode_telemetry(batch).t0 == round(T0 + i * 0.3, 4)


def test_a_session_event_or_a_gap_closes_the_batch_so_nothing_is_reordered() -> None:
    check_in = SessionChange("start", T0 + 0.1, "s1", member_id="m1")
    after_gap = frames(T0 + 5.0, 1)
    _, uplink = run([*frames(T0, 2), check_in, *frames(T0 + 0.14, 1), *after_gap], interval=1.0)
    assert [(channel, len(p.get("sled_mm", []))) for channel, p in uplink.sent] == [
        ("telemetry", 14),
        ("session", 0),
        ("telemetry", 7),
        ("telemetry", 7),
    ]
    assert uplink.sent[3][1]["t0"] == T0 + 5.0


def test_what_the_agent_sends_is_what_the_service_decodes() -> None:
    check_in = SessionChange("start", T0, "s1", member_id="m1", depth_limit_mm=420.0)
    frame = Frame(T0 + 0.1, 50.0, [10.0, None, math.nan], [5.0, 5.1, 5.2], [7.0] * 3, 140.0)
    _, uplink = run([check_in, frame], interval=1.0)
    (_, session), (_, telemetry) = uplink.sent
    assert session == {
        "v": 1,
        "event": "start",
        "t": T0,
        "session_id": "s1",
        "member_id": "m1",
        "depth_limit_mm": 420.0,
    }  # no load_kg: absent fields are left out, not sent as null
    assert decode_session(json.dumps(session).encode()) == check_in.payload()
    batch = decode_telemetry(json.dumps(telemetry).encode())
    assert telemetry["sled_mm"] == [10.0, None, None]  # NaN goes out as null: a drop-out
    assert batch.sled_mm[0] == 10.0 and np.isnan(batch.sled_mm[1:]).all()
    assert batch.sacral_kpa is not None and batch.sacral_kpa.tolist() == [7.0] * 3
    assert (batch.t0, batch.hz, batch.load_kg) == (T0 + 0.1, 50.0, 140.0)


def test_status_payloads_decode_as_the_contract_says() -> None:
    online = decode_status(status_payload("online", T0 + 0.12345))
    assert (online.state, online.t) == ("online", round(T0 + 0.12345, 3))
    will = status_payload("offline")
    assert json.loads(will) == {"v": 1, "state": "offline"} and decode_status(will).t is None
