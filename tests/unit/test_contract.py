"""Payload validation: everything the contract allows is accepted, every breach is rejected
with a reason that names the field."""

from __future__ import annotations

import json
import math

import msgspec
import numpy as np
import pytest

from gymfloor.contract import (
    VERSION,
    ContractError,
    MachineChannel,
    MachineKey,
    Payload,
    SessionPayload,
    StatusPayload,
    TelemetryPayload,
    TopicError,
    decode_session,
    decode_status,
    decode_telemetry,
    encode_payload,
    parse_machine_topic,
)
from gymfloor.contract.payloads import EPOCH_MAX, EPOCH_MIN, MAX_PAYLOAD_BYTES


def batch(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "v": 1,
        "seq": 1523,
        "boot": "7f3a9c",
        "t0": 1764064800.250,
        "hz": 100.0,
        "sled_mm": [12.1, 12.4, 13.0],
        "lumbar_kpa": [5.21, 5.19, 5.22],
        "sacral_kpa": [7.80, 7.82, 7.79],
        "load_kg": 140,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not REMOVE}


REMOVE = object()


def test_contract_example_is_accepted_from_bytes_and_from_an_object() -> None:
    from_bytes = decode_telemetry(json.dumps(batch()).encode())
    from_object = decode_telemetry(batch())
    for decoded in (from_bytes, from_object):
        assert decoded.seq == 1523 and decoded.boot == "7f3a9c" and decoded.hz == 100.0
        assert decoded.sled_mm.tolist() == [12.1, 12.4, 13.0]
        assert decoded.sacral_kpa is not None and decoded.sacral_kpa.tolist()[1] == 7.82
        assert decoded.load_kg == 140


def test_optional_fields_may_be_missing_and_unknown_fields_are_ignored() -> None:
    decoded = decode_telemetry(
        batch(boot=REMOVE, sacral_kpa=REMOVE, load_kg=REMOVE, firmware="2.1", extra={"a": 1})
    )
    assert decoded.boot is None and decoded.sacral_kpa is None and decoded.load_kg is None


def test_null_samples_become_nan() -> None:
    decoded = decode_telemetry(batch(sled_mm=[1.0, None, 3.0], lumbar_kpa=[None, 2.0, 2.0]))
    assert math.isnan(decoded.sled_mm[1]) and math.isnan(decoded.lumbar_kpa[0])
    assert decoded.sled_mm[2] == 3.0


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    decoded = decode_telemetry(batch(hz=50, t0=1764064800, sled_mm=[1, 2, 3]))
    assert decoded.hz == 50.0 and decoded.sled_mm.dtype.kind == "f"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (batch(v=2), "v: Invalid enum value 2 (expected 1)"),
        (batch(v=REMOVE), "v: Missing required field"),
        (batch(seq=REMOVE), "seq: Missing required field"),
        (batch(seq="1523"), "seq: Expected `int`, got `str`"),
        (batch(seq=1.5), "seq: Expected `int`, got `float`"),
        (batch(seq=True), "seq: Expected `int`, got `bool`"),
        (batch(boot=7), "boot: Expected `str | null`, got `int`"),
        (batch(t0=REMOVE), "t0: Missing required field"),
        (batch(t0="now"), "t0: Expected `float`, got `str`"),
        (batch(t0=12.0), "t0: Expected `float` >= 946684800.0"),
        (batch(hz=REMOVE), "hz: Missing required field"),
        (batch(hz=9.9), "hz: Expected `float` >= 10.0"),
        (batch(hz=1000.5), "hz: Expected `float` <= 1000.0"),
        (batch(sled_mm=REMOVE), "sled_mm: Missing required field"),
        (batch(sled_mm="12.1"), "sled_mm: Expected `array`, got `str`"),
        (batch(sled_mm=[1.0, "2", 3.0]), "sled_mm[1]: Expected `float | null`, got `str`"),
        (batch(sled_mm=[1.0, True, 3.0]), "sled_mm[1]: Expected `float | null`, got `bool`"),
        (batch(sled_mm=[1.0, 1e9, 3.0]), "sled_mm[1]: Expected `float` <= 3000.0"),
        (batch(lumbar_kpa=REMOVE), "lumbar_kpa: Missing required field"),
        (batch(lumbar_kpa=[5.0, -50.0, 5.0]), "lumbar_kpa[1]: Expected `float` >= -10.0"),
        (
            batch(sled_mm=[], lumbar_kpa=[], sacral_kpa=[]),
            "sled_mm: Expected `array` of length >= 1",
        ),
        (batch(lumbar_kpa=[5.0, 5.0]), "lumbar_kpa has 2 samples, sled_mm has 3"),
        (batch(sacral_kpa=[5.0]), "sacral_kpa has 1 samples, sled_mm has 3"),
        (
            batch(sled_mm=[1.0] * 1001, lumbar_kpa=[1.0] * 1001, sacral_kpa=REMOVE),
            "sled_mm: Expected `array` of length <= 1000",
        ),
        (batch(load_kg=-5), "load_kg: Expected `float` >= 0.0"),
        (batch(load_kg="heavy"), "load_kg: Expected `float | null`, got `str`"),
    ],
)
def test_each_breach_is_rejected_with_its_field_and_reason(payload: dict, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_telemetry(json.dumps(payload).encode())
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"sled_mm": [1.0, NaN, 3.0]', "sled_mm[1]: Expected a finite number, got NaN"),
        ('"sled_mm": [1.0, Infinity, 3.0]', "sled_mm[1]: Expected a finite number, got Infinity"),
        ('"sled_mm": [1.0, 1e999, 3.0]', "sled_mm[1]: Expected a finite number, got Infinity"),
        ('"sled_mm": [1.0, -Infinity, 3.0]', "sled_mm[1]: Expected a finite number, got -Infinity"),
    ],
)
def test_non_finite_numbers_are_rejected(text: str, reason: str) -> None:
    raw = json.dumps(batch(sled_mm=REMOVE))[:-1] + ", " + text + "}"
    with pytest.raises(ContractError) as caught:
        decode_telemetry(raw.encode())
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "payload: Invalid JSON: Input data was truncated"),
        (b"{", "payload: Invalid JSON: Input data was truncated"),
        (b"[1, 2]", "payload: Expected `object`, got `array`"),
        (b"\xff\xfe", "payload: Invalid JSON: invalid character (byte 0)"),
    ],
)
def test_messages_that_are_not_json_objects_are_rejected(raw: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_telemetry(raw)
    assert reason in caught.value.reason


def test_oversized_payload_is_rejected_before_parsing() -> None:
    raw = b'{"v": 1, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    with pytest.raises(ContractError, match="over the 65536 limit"):
        decode_telemetry(raw)


def test_a_reason_lists_every_problem_in_the_contract_order() -> None:
    with pytest.raises(ContractError) as caught:
        decode_telemetry(json.dumps(batch(seq="x", hz=1, t0="y")).encode())
    assert caught.value.reason == (
        "seq: Expected `int`, got `str`; t0: Expected `float`, got `str`; "
        "hz: Expected `float` >= 10.0"
    )


def test_session_events_of_the_contract_are_accepted() -> None:
    start = decode_session(
        b'{"v": 1, "event": "start", "t": 1764064790.0, "session_id": "s-8f2",'
        b' "member_id": "m-1042", "load_kg": 140}'
    )
    load = decode_session(
        b'{"v":1,"event":"load","t":1764064990.0,"session_id":"s-8f2","load_kg":160}'
    )
    end = decode_session(b'{"v":1,"event":"end","t":1764065400.0,"session_id":"s-8f2"}')
    assert (start.member_id, load.load_kg, end.event) == ("m-1042", 160, "end")
    assert start.depth_limit_mm is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"v": 1, "event": "pause", "t": 1764064790.0, "session_id": "s"},
            "event: Invalid enum value 'pause' (expected 'start', 'load' or 'end')",
        ),
        ({"v": 1, "event": "start", "t": 1764064790.0}, "session_id: Missing required field"),
        (
            {"v": 1, "event": "start", "t": 1764064790.0, "session_id": ""},
            "session_id: Expected `str` of length >= 1",
        ),
        ({"v": 1, "event": "end", "session_id": "s"}, "t: Missing required field"),
        (
            {"v": 1, "event": "start", "t": 1764064790.0, "session_id": "s", "depth_limit_mm": -1},
            "depth_limit_mm: Expected `float` > 0.0",
        ),
    ],
)
def test_bad_session_events_are_rejected(payload: dict, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_session(json.dumps(payload).encode())
    assert reason in caught.value.reason


def test_status_messages() -> None:
    assert decode_status(b'{"v":1,"state":"online","t":1764064790.0}').state == "online"
    assert decode_status(b'{"v":1,"state":"offline"}').t is None
    with pytest.raises(ContractError) as caught:
        decode_status(b'{"v":1,"state":"asleep"}')
    assert (
        caught.value.reason == "state: Invalid enum value 'asleep' (expected 'online' or 'offline')"
    )


@pytest.mark.parametrize("channel", list(MachineChannel))
def test_machine_topics_parse(channel: MachineChannel) -> None:
    key = MachineKey("gym_A-1", "lp-03")
    assert parse_machine_topic(key.topic(channel)) == (key, channel)


@pytest.mark.parametrize(
    "topic",
    [
        "gymfloor/v1/g1/lp-03",
        "gymfloor/v2/g1/lp-03/telemetry",
        "gymfloor/v1/g 1/lp-03/telemetry",
        "gymfloor/v1/g1/lp.03/telemetry",
        "gymfloor/v1/g1/" + "x" * 65 + "/telemetry",
        "gymfloor/v1/g1/lp-03/telemetry/extra",
        "gymfloor/v1/g1/lp-03/diagnostics",
        "gymfloor/v1/g1/alerts",
    ],
)
def test_other_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_machine_topic(topic)


def test_null_samples_become_nan_from_json_too() -> None:
    decoded = decode_telemetry(json.dumps(batch(sacral_kpa=[None, 7.8, None])).encode())
    assert decoded.sacral_kpa is not None
    assert np.isnan(decoded.sacral_kpa[[0, 2]]).all() and decoded.sacral_kpa[1] == 7.8
    for channel in (decoded.sled_mm, decoded.lumbar_kpa, decoded.sacral_kpa):
        assert channel.dtype == np.float64 and channel.shape == (3,)


@pytest.mark.parametrize(
    "payload",
    [
        TelemetryPayload(
            v=VERSION,
            seq=-(2**63),
            boot="7f3a9c",
            t0=1764064800.25,
            hz=1000.0,
            sled_mm=[12.1, None, -100.0],
            lumbar_kpa=[500.0, 5.19, None],
            sacral_kpa=[None, None, -10.0],
            load_kg=2000.0,
        ),
        TelemetryPayload(v=VERSION, seq=7, t0=EPOCH_MAX, hz=10.0, sled_mm=[1.0], lumbar_kpa=[2.0]),
    ],
)
def test_encoded_telemetry_decodes_to_what_was_encoded(payload: TelemetryPayload) -> None:
    decoded = decode_telemetry(encode_payload(payload))
    assert (decoded.seq, decoded.boot, decoded.t0, decoded.hz, decoded.load_kg) == (
        payload.seq,
        payload.boot,
        payload.t0,
        payload.hz,
        payload.load_kg,
    )
    pairs = [(decoded.sled_mm, payload.sled_mm), (decoded.lumbar_kpa, payload.lumbar_kpa)]
    if payload.sacral_kpa is None:
        assert decoded.sacral_kpa is None
    else:
        assert decoded.sacral_kpa is not None
        pairs.append((decoded.sacral_kpa, payload.sacral_kpa))
    for array, samples in pairs:
        expected = [math.nan if x is None else x for x in samples]
        np.testing.assert_array_equal(array, expected)  # NaN where the samples were null


@pytest.mark.parametrize(
    "payload",
    [
        SessionPayload(
            v=VERSION,
            event="start",
            t=1764064790.0,
            session_id="s-8f2",
            member_id="m-1042",
            load_kg=140.0,
            depth_limit_mm=420.5,
        ),
        SessionPayload(v=VERSION, event="end", t=EPOCH_MIN, session_id="x" * 128),
        StatusPayload(v=VERSION, state="online", t=1764064790.125),
        StatusPayload(v=VERSION, state="offline"),
    ],
)
def test_encoded_events_decode_to_what_was_encoded(payload: Payload) -> None:
    encoded = encode_payload(payload)
    decode = decode_session if isinstance(payload, SessionPayload) else decode_status
    assert decode(encoded) == payload
    assert b"null" not in encoded  # optional fields left at None are left out


def test_encoding_keeps_the_contract_field_order() -> None:
    payload = TelemetryPayload(
        v=VERSION, seq=1, boot="b", t0=1764064800.0, hz=50.0, sled_mm=[1.0], lumbar_kpa=[2.0]
    )
    assert encode_payload(payload) == (
        b'{"v":1,"seq":1,"boot":"b","t0":1764064800.0,"hz":50.0,"sled_mm":[1.0],"lumbar_kpa":[2.0]}'
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (batch(sled_mm=[1.0, math.nan, 3.0]), "sled_mm[1]: Expected a finite number, got NaN"),
        (batch(t0=math.inf), "t0: Expected a finite number, got Infinity"),
        (batch(v=True), "v: Expected `int`, got `bool`"),
        (
            batch(seq=REMOVE, boot=7),
            "seq: Missing required field; boot: Expected `str | null`, got `int`",
        ),
        (batch(sacral_kpa=[1.0]), "payload: sacral_kpa has 1 samples, sled_mm has 3"),
    ],
)
def test_objects_already_parsed_are_held_to_the_same_rules(payload: dict, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_telemetry(payload)
    assert caught.value.reason == reason


def test_a_payload_may_be_raw_json_from_a_recording_line() -> None:
    raw = msgspec.Raw(json.dumps(batch()).encode())
    assert decode_telemetry(raw).seq == 1523
    with pytest.raises(ContractError, match="over the 65536 limit"):
        decode_telemetry(msgspec.Raw(b" " * (MAX_PAYLOAD_BYTES + 1)))


def test_session_and_status_reasons_name_the_field() -> None:
    with pytest.raises(ContractError) as caught:
        decode_session(b'{"v":1,"event":"end","t":"soon","session_id":"s","load_kg":-1}')
    assert caught.value.reason == (
        "t: Expected `float`, got `str`; load_kg: Expected `float` >= 0.0"
    )
    with pytest.raises(ContractError) as caught:
        decode_status(b'{"v":1,"state":"online","t":1e3}')
    assert caught.value.reason == "t: Expected `float` >= 946684800.0"
