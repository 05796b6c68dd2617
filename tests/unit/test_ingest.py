"""The ingest service's parts without a network: pipeline, alert policy, journal,
lanes, outbox and settings."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gymfloor.contract import Fault, MachineKey, Severity, encode_payload
from gymfloor.detector import Detector, FaultDetected, kernel
from gymfloor.detector.snapshot import MachinesSnapshot, pack_state, unpack_state
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.checkpoint import Checkpoint, CheckpointFile
from gymfloor.ingest.config import AlertPolicyConfig
from gymfloor.ingest.intake import Message
from gymfloor.ingest.journal import Journal
from gymfloor.ingest.lanes import Lanes
from gymfloor.ingest.pipeline import Outgoing, Pipeline
from gymfloor.mqtt import parse_mqtt_url
from gymfloor.mqtt.connection import BlockReadingClient
from gymfloor.settings import Settings
from gymfloor_edge.outbox import Outbox
from gymfloor_edge.simulator import SimulationPlan, simulate

KEY = MachineKey("g1", "lp-01")


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, bytes]]:
    simulation = simulate(SimulationPlan(seed=5, machines=2, visits=1))
    return [(m.topic, encode_payload(m.payload)) for m in simulation.messages]


def run(pipeline: Pipeline, messages: list[tuple[str, bytes]], live: bool = True) -> list[Outgoing]:
    return [out for topic, raw in messages for out in pipeline.handle(topic, raw, 0.0, live)]


def fresh() -> Pipeline:
    return Pipeline(Detector(), AlertPolicy())


# -- pipeline ----------------------------------------------------------------------------------


def test_feedback_reaches_the_machine_during_the_rep_it_belongs_to(
    messages: list[tuple[str, bytes]],
) -> None:
    outgoing = run(fresh(), messages)
    reps: dict[tuple[str, int, str | None], dict] = {}
    cues: list[tuple[int, str, dict]] = []
    for index, out in enumerate(outgoing):
        body = json.loads(out.payload)
        machine = out.topic.split("/")[3]
        if out.topic.endswith("/reps"):
            reps[(machine, body["rep"], body["session_id"])] = {**body, "index": index}
        elif out.topic.endswith("/feedback"):
            cues.append((index, machine, body))
    assert len(cues) > 10
    for index, machine, cue in cues:
        rep = next(
            r
            for (m, n, _), r in reps.items()
            if m == machine and n == cue["rep"] and r["t_start"] <= cue["t"] <= r["t_end"]
        )
        assert index < rep["index"]  # sent before the rep was over
        assert cue["fault"] in rep["faults"] and cue["cue"] and isinstance(cue["seq"], int)


def test_a_restored_checkpoint_carries_on_exactly_where_the_original_stood(
    messages: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    whole = fresh()
    expected = run(whole, messages)
    half = len(messages) // 2
    first = fresh()
    outputs = run(first, messages[:half])
    first_half = first.take_changes().reports
    snapshot = first.snapshot()
    # The snapshot is copied lazily: the original running on must not change what it saves.
    assert run(first, messages[half:]) == expected[len(outputs) :]
    CheckpointFile(tmp_path).save(Checkpoint(7, snapshot))
    saved = CheckpointFile(tmp_path).load()  # as after a restart
    assert saved is not None and saved.position == 7
    restored = Pipeline.restore(saved.state, whole.detector.config, AlertPolicyConfig())
    outputs += run(restored, messages[half:])
    assert outputs == expected
    whole_reports = whole.take_changes().reports
    assert first_half + first.take_changes().reports == whole_reports  # it ran on to the end
    assert first_half + restored.take_changes().reports == whole_reports


def test_a_machine_is_checkpointed_without_the_levels_its_rep_has_not_reached(
    messages: list[tuple[str, bytes]],
) -> None:
    pipeline = fresh()
    run(pipeline, messages[: len(messages) // 3])
    machines = pipeline.detector.snapshot().machines
    assert isinstance(machines, MachinesSnapshot)
    states = [m.kernel_state for m in machines.states().values()]
    assert states
    for state in states:
        packed = pack_state(state)
        assert len(packed) < state.nbytes * 0.75
        restored = unpack_state(packed)
        for name in kernel.STATE_DTYPE.names or ():
            if name in ("desc_t", "asc_t"):
                used = int(state[name.replace("_t", "_n")][0])
                assert np.array_equal(restored[name][0][:used], state[name][0][:used], True)
            else:
                assert np.array_equal(restored[name], state[name], equal_nan=True), name


def test_nothing_is_published_while_the_journal_is_replayed(
    messages: list[tuple[str, bytes]],
) -> None:
    pipeline = fresh()
    assert run(pipeline, messages, live=False) == []
    assert pipeline.take_changes().reports  # but everything is stored


def test_a_bad_message_is_echoed_to_its_machine_with_the_reason() -> None:
    pipeline = fresh()
    (echo,) = pipeline.handle("gymfloor/v1/g1/lp-01/telemetry", b'{"v": 1}', 10.0, True)
    assert echo.topic == "gymfloor/v1/g1/lp-01/rejected"
    body = json.loads(echo.payload)
    assert body["raw"] == '{"v": 1}' and body["raw_encoding"] == "utf-8"
    assert "seq" in body["reason"] and pipeline.rejects.total == 1


def test_status_and_data_keep_track_of_presence() -> None:
    pipeline = fresh()
    status = "gymfloor/v1/g1/lp-01/status"
    pipeline.handle(status, b'{"v": 1, "state": "online", "t": 1764064800.0}', 100.0, True)
    pipeline.handle(status, b'{"v": 1, "state": "offline"}', 200.0, True)
    assert pipeline.presence[KEY].state == "offline"
    assert pipeline.presence[KEY].state_since == 200.0
    assert pipeline.take_changes().machines[KEY].state == "offline"


# -- alert policy ------------------------------------------------------------------------------


def fault(kind: Fault, t: float, load: float | None = 100.0, session: str = "s1") -> FaultDetected:
    return FaultDetected(KEY, t, 1, kind, session, "m1", load)


def test_liftoff_warns_then_escalates_when_it_repeats_in_the_set() -> None:
    policy = AlertPolicy()
    first = policy.judge(fault(Fault.LUMBAR_LIFTOFF, 0.0))
    second = policy.judge(fault(Fault.LUMBAR_LIFTOFF, 10.0))
    third = policy.judge(fault(Fault.LUMBAR_LIFTOFF, 20.0))
    assert first is not None and first.severity is Severity.WARNING
    assert second is not None and second.severity is Severity.CRITICAL and second.count == 2
    assert third is None and policy.suppressed == 1  # same severity inside the cool-down
    later = policy.judge(fault(Fault.LUMBAR_LIFTOFF, 20.0 + policy.config.cooldown_s))
    assert later is not None and later.severity is Severity.CRITICAL


def test_a_policy_snapshot_keeps_the_tallies_of_its_moment() -> None:
    policy = AlertPolicy()
    policy.judge(fault(Fault.LUMBAR_LIFTOFF, 0.0))
    snapshot = policy.snapshot()
    policy.judge(fault(Fault.LUMBAR_LIFTOFF, 10.0))  # the original runs on after it
    policy.set_ended(KEY)
    for _ in range(2):  # as after a restart, twice: a restored policy must not change it either
        restored = AlertPolicy.restore(policy.config, snapshot)
        second = restored.judge(fault(Fault.LUMBAR_LIFTOFF, 10.0))
        assert second is not None and second.severity is Severity.CRITICAL and second.count == 2


def test_liftoff_under_heavy_load_is_critical_at_once() -> None:
    alert = AlertPolicy().judge(fault(Fault.LUMBAR_LIFTOFF, 0.0, load=180.0))
    assert alert is not None and alert.severity is Severity.CRITICAL and "heavy" in alert.message


def test_an_alert_message_names_its_machine_first_and_nests_no_brackets() -> None:
    alert = AlertPolicy().judge(fault(Fault.LUMBAR_LIFTOFF, 0.0, load=180.0))
    assert alert is not None and alert.message.startswith(f"{KEY.machine_id}: ")
    details = alert.message[alert.message.index("(") + 1 : alert.message.index(")")]
    assert "180 kg" in details and "heavy" in details and "(" not in details


def test_one_dropped_rep_is_for_the_display_only() -> None:
    policy = AlertPolicy()
    judged = [policy.judge(fault(Fault.UNCONTROLLED_DESCENT, t)) for t in (0.0, 5.0, 10.0)]
    assert judged[0] is None and judged[1] is None
    assert judged[2] is not None and judged[2].severity is Severity.INFO


def test_a_new_set_or_member_counts_afresh() -> None:
    policy = AlertPolicy(AlertPolicyConfig(cooldown_s=0.0))
    policy.judge(fault(Fault.LUMBAR_LIFTOFF, 0.0))
    policy.set_ended(KEY)
    again = policy.judge(fault(Fault.LUMBAR_LIFTOFF, 10.0))
    other = policy.judge(fault(Fault.LUMBAR_LIFTOFF, 20.0, session="s2"))
    assert again is not None and again.severity is Severity.WARNING
    assert other is not None and other.severity is Severity.WARNING


def test_alert_ids_are_stable_so_a_replay_repeats_none() -> None:
    a = AlertPolicy().judge(fault(Fault.EXCESSIVE_ROM, 12.5))
    b = AlertPolicy().judge(fault(Fault.EXCESSIVE_ROM, 12.5))
    assert a is not None and b is not None and a.id == b.id


# -- journal -----------------------------------------------------------------------------------


def test_the_journal_replays_what_was_written_and_survives_a_torn_tail(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([Message("a/telemetry", b"one", 1.0)])
    closed = journal.rotate()
    journal.append([Message("b/telemetry", b"two", 2.0)])
    journal.close()
    with (tmp_path / f"{journal.segment:012d}.journal").open("ab") as segment:
        segment.write(b"\x05\x00")  # the process died inside a write
    reopened = Journal(tmp_path)  # as after a restart
    entries = list(reopened.replay(closed))
    assert [(e.topic, e.payload, e.received_at) for e in entries] == [
        ("a/telemetry", b"one", 1.0),
        ("b/telemetry", b"two", 2.0),
    ]
    reopened.drop_before(closed + 1)
    assert [e.payload for e in reopened.replay(0)] == [b"two"]


def test_a_journal_whose_segments_a_checkpoint_let_go_writes_after_that_checkpoint(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    for _ in range(5):
        journal.append([Message("a/telemetry", b"old", 1.0)])
        journal.drop_before(journal.rotate() + 1)  # a checkpoint covered it
    position = journal.segment - 1
    journal.close()
    for empty in tmp_path.glob("*.journal"):  # the open segment, never written
        empty.unlink()
    reopened = Journal(tmp_path)  # no segment is left to number the next one from
    reopened.write_after(position)
    reopened.append([Message("a/telemetry", b"new", 2.0)])
    reopened.close()
    assert [e.payload for e in Journal(tmp_path).replay(position + 1)] == [b"new"]


# -- lanes -------------------------------------------------------------------------------------


def test_a_busy_machine_waits_its_turn_behind_the_others() -> None:
    lanes: Lanes[str] = Lanes()
    lanes.put(0, (("flood", f"junk {i}") for i in range(1000)))
    lanes.put(0, [("quiet", "batch")])
    assert "batch" in lanes.take(3, timeout=0)  # not after a thousand others


def test_a_checkpoint_drain_stops_at_its_segment() -> None:
    lanes: Lanes[str] = Lanes()
    lanes.put(0, [("a", "old")])
    lanes.put(1, [("b", "later"), ("a", "new")])
    assert lanes.take(10, timeout=0, up_to_segment=0) == ["old"]
    assert lanes.take(10, timeout=0, up_to_segment=0) == []
    assert sorted(lanes.take(10, timeout=0)) == ["later", "new"]


def test_intake_waits_for_room() -> None:
    lanes: Lanes[int] = Lanes()
    lanes.put(0, (("m", i) for i in range(3)))
    assert not lanes.wait_below(3, timeout=0.01)
    threading.Timer(0.05, lambda: lanes.take(1, timeout=0)).start()
    assert lanes.wait_below(3, timeout=5.0)


# -- outbox ------------------------------------------------------------------------------------


def test_the_outbox_keeps_order_across_restarts_and_drops_the_oldest_when_full(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.outbox"
    outbox = Outbox(path, max_messages=3)
    for i in range(5):
        outbox.append("t", str(i).encode())
    assert outbox.dropped == 2 and len(outbox) == 3
    outbox.close()
    reopened = Outbox(path, max_messages=3)
    rows = reopened.after(0, 10)
    assert [payload for _, _, payload in rows] == [b"2", b"3", b"4"]
    reopened.remove([rows[0][0]])
    assert len(reopened) == 2 and reopened.after(rows[0][0], 10) == rows[1:]


# -- the MQTT client ---------------------------------------------------------------------------


def _publish(command: int, topic: bytes, mid: int, payload: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    body += (struct.pack("!H", mid) if command & 0x06 else b"") + payload
    length, rest = b"", len(body)
    while True:
        rest, digit = rest >> 7, rest & 0x7F
        length += bytes((digit | (0x80 if rest else 0),))
        if not rest:
            return bytes((command,)) + length + body


# QoS 0; QoS 1; retained; sent again; a packet whose length takes two bytes; a PINGRESP, which
# paho handles.
_STREAM = b"".join(
    [
        _publish(0x30, b"gymfloor/v1/g1/lp-01/telemetry", 0, b'{"v": 1}'),
        _publish(0x32, b"gymfloor/v1/g1/lp-01/session", 77, b"{}"),
        _publish(0x33, b"gymfloor/v1/g1/lp-02/status", 78, b'{"state": "online"}'),
        _publish(0x3A, b"gymfloor/v1/g1/lp-01/telemetry", 77, b"again"),
        b"\xd0\x00",
        _publish(0x32, b"gymfloor/v1/g2/lp-01/telemetry", 300, b"x" * 300),
    ]
)


def _read(client: mqtt.Client, pieces: list[bytes]) -> bytes:
    """Feed the client `pieces` of what a broker sent, a socket read each; what it sent back."""
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client._sock = ours  # type: ignore[assignment]  # paho's internals: as if connected
    sent = b""
    for piece in pieces:
        broker.sendall(piece)
        for _ in range(8):  # paho's own client reads a packet a call
            client.loop_read()
        broker.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sent += broker.recv(1 << 16)
        broker.setblocking(True)
    return sent


@pytest.mark.parametrize("piece", [1, 7, len(_STREAM)])
def test_the_client_reads_packets_as_paho_does_and_acknowledges_them_after_each_read(
    piece: int,
) -> None:
    pieces = [_STREAM[i : i + piece] for i in range(0, len(_STREAM), piece)]
    seen: list[list[tuple[object, ...]]] = [[], []]
    sent: list[bytes] = []
    for client, into in zip(
        (
            BlockReadingClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311),
            mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311),
        ),
        seen,
        strict=True,
    ):
        client.on_message = lambda c, u, m, into=into: into.append(
            (m.topic, bytes(m.payload), m.qos, m.mid if m.qos else 0, m.retain, m.dup)
        )
        sent.append(_read(client, pieces))
    assert seen[0] == seen[1] and len(seen[0]) == 5
    assert (
        sent[0] == sent[1] == b"".join(struct.pack("!BBH", 0x40, 2, m) for m in (77, 78, 77, 300))
    )


def test_a_read_is_handed_on_at_once_before_any_of_it_is_acknowledged() -> None:
    client = BlockReadingClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    reads: list[list[tuple[str, bytes]]] = []
    client.on_messages = lambda received: reads.append(received)
    client.on_message = lambda c, u, m: pytest.fail("on_messages takes them all")
    cut = len(_STREAM) - 100  # the last packet straddles the two reads
    sent = _read(client, [_STREAM[:cut], _STREAM[cut:]])
    assert [len(r) for r in reads] == [4, 1]
    assert reads[0][2] == ("gymfloor/v1/g1/lp-02/status", b'{"state": "online"}')
    assert reads[1] == [("gymfloor/v1/g2/lp-01/telemetry", b"x" * 300)]
    assert sent == b"".join(struct.pack("!BBH", 0x40, 2, m) for m in (77, 78, 77, 300))


def test_packets_queued_before_the_network_thread_writes_share_one_wake_up() -> None:
    client = BlockReadingClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    ours, broker = socket.socketpair()
    client._sock = ours  # type: ignore[assignment]  # paho's internals: as if connected
    client._sockpairR, client._sockpairW = socket.socketpair()
    client._thread = threading.current_thread()  # as if its network thread were running
    wake_ups = client._sockpairR
    wake_ups.setblocking(False)
    for topic in ("a", "b", "c"):
        client.publish(topic, b"x", qos=0)
    assert wake_ups.recv(100) == b"0"  # one byte for the three
    client.loop_write()
    assert broker.recv(100).count(b"x") == 3
    client.publish("d", b"x", qos=0)  # after the write: a wake-up of its own
    assert wake_ups.recv(100) == b"0"


# -- settings ----------------------------------------------------------------------------------


def test_broker_urls() -> None:
    assert str(parse_mqtt_url("mqtt://broker")) == "mqtt://broker:1883"
    tls = parse_mqtt_url("mqtts://dev%40gym:s3cret@broker.example:8884")
    assert tls.tls and tls.port == 8884 and tls.username == "dev@gym" and tls.password == "s3cret"
    assert "s3cret" not in str(tls)
    for bad in ("http://broker", "mqtt://", "mqtt://host:99999"):
        with pytest.raises(ValueError):
            parse_mqtt_url(bad)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYMFLOOR_MQTT_URL", "mqtts://broker.example")
    monkeypatch.setenv("GYMFLOOR_MQTT_PASSWORD", "from-env")
    monkeypatch.setenv("GYMFLOOR_DB_URL", "sqlite:///elsewhere/floor.db")
    monkeypatch.setenv("GYMFLOOR_ALERTS__HEAVY_LOAD_KG", "200")
    settings = Settings()
    assert settings.mqtt.address.tls and settings.mqtt.password == "from-env"
    assert settings.store_url == "sqlite:///elsewhere/floor.db"
    assert settings.alerts.heavy_load_kg == 200.0
    assert "from-env" not in repr(settings)
    monkeypatch.setenv("GYMFLOOR_MQTT_URL", "tcp://broker")
    with pytest.raises(ValueError, match="mqtt://"):
        Settings()
