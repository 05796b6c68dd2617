"""Recordings (docs/CONTRACT.md section 6): JSON Lines, one MQTT message per line, in arrival order.

A line is decoded in one pass into a RecordedMessage whose payload stays raw JSON bytes: the
payload's own decoder, chosen by the topic's channel, reads it next, so no payload is parsed
twice or turned into Python objects it does not need.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from gymfloor.contract.payloads import MAX_PAYLOAD_BYTES, ContractError, Payload

MAX_LINE_BYTES = MAX_PAYLOAD_BYTES + 1024

_OPEN_BRACE = ord("{")


class RecordedMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line of a recording. `payload` is the message's JSON object, undecoded."""

    topic: str
    payload: msgspec.Raw
    received_at: float | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a recorded message; the reader reports it and goes on."""

    line_no: int
    reason: str
    column: int | None = None


_LINE = msgspec.json.Decoder(RecordedMessage)
_ENCODER = msgspec.json.Encoder()


def decode_line(raw: bytes) -> RecordedMessage | None:
    """The message on one line, or None for a blank line. Raises ContractError with the reason
    when the line is not a recorded message."""
    if len(raw) > MAX_LINE_BYTES:
        raise ContractError(f"line is {len(raw)} bytes, over the {MAX_LINE_BYTES} limit")
    try:
        line = _LINE.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        if not raw.strip():
            return None
        return _decode_leniently(raw)
    if memoryview(line.payload)[0] != _OPEN_BRACE:
        raise ContractError("payload: missing or not an object")
    return line


def _decode_leniently(raw: bytes) -> RecordedMessage:
    """A line the fast decoder refused: either the reason, found with Python's `json`, or (for
    JSON with NaN or Infinity, which it accepts) the message, for its payload's decoder to say
    where the NaN is. The line is parsed without its line break, so that the column of an error
    at its end is on this line."""
    try:
        line = json.loads(raw.rstrip(b"\r\n"))
    except json.JSONDecodeError as exc:
        raise ContractError(f"not JSON: {exc.msg}", column=exc.colno) from None
    except ValueError as exc:  # UnicodeDecodeError: not UTF-8
        raise ContractError(f"not JSON: {exc}") from None
    if not isinstance(line, dict):
        raise ContractError("not a JSON object")
    topic, payload, received_at = line.get("topic"), line.get("payload"), line.get("received_at")
    if not isinstance(topic, str):
        raise ContractError("topic: missing or not a string")
    if not isinstance(payload, dict):
        raise ContractError("payload: missing or not an object")
    if received_at is not None and (
        isinstance(received_at, bool) or not isinstance(received_at, int | float)
    ):
        raise ContractError("received_at: not a number")
    return RecordedMessage(topic, msgspec.Raw(json.dumps(payload).encode()), received_at)


def read_recording(lines: Iterable[bytes]) -> Iterator[RecordedMessage | BadLine]:
    """Yield each line's message, or a BadLine saying why it could not be read."""
    for line_no, raw in enumerate(lines, start=1):
        try:
            message = decode_line(raw)
        except ContractError as exc:
            yield BadLine(line_no, exc.reason, exc.column)
            continue
        if message is not None:
            yield message


def encode_line(
    topic: str, payload: Payload | dict[str, Any] | msgspec.Raw, received_at: float | None = None
) -> str:
    """One line of a recording, without its newline."""
    if not isinstance(payload, msgspec.Raw):
        payload = msgspec.Raw(_ENCODER.encode(payload))
    return _ENCODER.encode(RecordedMessage(topic, payload, received_at)).decode()
