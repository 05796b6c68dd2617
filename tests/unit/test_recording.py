"""Recordings (docs/CONTRACT.md section 6): each line decodes in one pass to a message whose
payload is left raw for its channel's decoder, and a line that is not a message says why."""

from __future__ import annotations

import json

import msgspec
import pytest

from gymfloor.contract import (
    VERSION,
    BadLine,
    ContractError,
    RecordedMessage,
    SessionPayload,
    TelemetryPayload,
    decode_line,
    decode_session,
    decode_telemetry,
    encode_line,
    read_recording,
)
from gymfloor.contract.recording import MAX_LINE_BYTES

TOPIC = "gymfloor/v1/g1/lp-01/telemetry"
PAYLOAD = TelemetryPayload(
    v=VERSION, seq=4, t0=1764064800.5, hz=50.0, sled_mm=[1.0, None], lumbar_kpa=[2.0, 2.5]
)


def test_a_line_keeps_its_payload_raw_for_the_channel_decoder() -> None:
    line = f'{{"topic":"{TOPIC}", "payload": {{"v": 1, "seq": 4}} , "received_at":7}}\n'
    message = decode_line(line.encode())
    assert message is not None and message.topic == TOPIC and message.received_at == 7.0
    assert isinstance(message.payload, msgspec.Raw)
    assert bytes(message.payload) == b'{"v": 1, "seq": 4}'  # the payload's own bytes


def test_encoded_lines_decode_to_what_was_encoded() -> None:
    event = SessionPayload(v=VERSION, event="end", t=1764064900.0, session_id="s-1")
    lines = [
        encode_line(TOPIC, PAYLOAD, 1764064800.56),
        encode_line("gymfloor/v1/g1/lp-01/session", event),
        encode_line(TOPIC, {"v": 1, "anything": [1, 2]}),
    ]
    telemetry, session, other = (decode_line(line.encode()) for line in lines)
    assert telemetry is not None and session is not None and other is not None
    assert telemetry.received_at == 1764064800.56 and session.received_at is None
    assert '"received_at"' not in lines[1]  # absent, not null
    assert decode_telemetry(telemetry.payload).t0 == PAYLOAD.t0
    assert decode_session(session.payload) == event
    assert json.loads(bytes(other.payload)) == {"v": 1, "anything": [1, 2]}
    assert encode_line(TOPIC, telemetry.payload, 1764064800.56) == lines[0]  # raw goes as is


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "not JSON: Expecting property name enclosed in double quotes"),
        (b'["a", "list"]', "not a JSON object"),
        (b'{"payload": {}}', "topic: missing or not a string"),
        (b'{"topic": 5, "payload": {}}', "topic: missing or not a string"),
        (b'{"topic": "t"}', "payload: missing or not an object"),
        (b'{"topic": "t", "payload": [1]}', "payload: missing or not an object"),
        (b'{"topic": "t", "payload": "{}"}', "payload: missing or not an object"),
        (b'{"topic": "t", "payload": {}, "received_at": "now"}', "received_at: not a number"),
        (b'{"topic": "t", "payload": {}, "received_at": true}', "received_at: not a number"),
        (b'{"topic": "t", "payload": {}} trailing', "not JSON: Extra data"),
        (b" " * (MAX_LINE_BYTES + 1), f"line is {MAX_LINE_BYTES + 1} bytes, over the"),
    ],
)
def test_a_line_that_is_not_a_message_says_why(line: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_line(line)
    assert caught.value.reason.startswith(reason)


def test_a_nan_in_a_payload_is_named_by_the_payload_decoder() -> None:
    # Not JSON, so the fast decoder refuses the line; Python's json reads it, and the payload's
    # decoder then says where the NaN is, as it would for the same payload over MQTT.
    line = f'{{"topic":"{TOPIC}","payload":{{"v":1,"seq":1,"t0":1764064800,"hz":50,'
    line += '"sled_mm":[1,NaN],"lumbar_kpa":[1,1]}}'
    message = decode_line(line.encode())
    assert message is not None
    with pytest.raises(ContractError) as caught:
        decode_telemetry(message.payload)
    assert caught.value.reason == "sled_mm[1]: Expected a finite number, got NaN"


def test_the_reader_numbers_lines_and_skips_blank_ones() -> None:
    message = encode_line(TOPIC, PAYLOAD).encode()
    items = list(read_recording([message, b"\n", b"   \n", b"{", message]))
    assert [type(item) for item in items] == [RecordedMessage, BadLine, RecordedMessage]
    bad = items[1]
    assert isinstance(bad, BadLine) and bad.line_no == 4 and bad.reason.startswith("not JSON")
    assert bad.column == 2  # just past the brace: the line's own column, not the text's
    assert decode_line(b"\n") is None and decode_line(b"") is None
