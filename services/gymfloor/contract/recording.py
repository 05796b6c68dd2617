"""Recordings (contract section 6): JSON Lines, one MQTT message per line, in arrival order."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gymfloor.contract.payloads import MAX_PAYLOAD_BYTES

MAX_LINE_BYTES = MAX_PAYLOAD_BYTES + 1024


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    line_no: int
    topic: str
    payload: dict[str, Any]
    received_at: float | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a recorded message; the reader reports it and goes on."""

    line_no: int
    reason: str


def encode_line(topic: str, payload: dict[str, Any], received_at: float | None = None) -> str:
    line: dict[str, Any] = {"topic": topic, "payload": payload}
    if received_at is not None:
        line["received_at"] = received_at
    return json.dumps(line, separators=(",", ":"), allow_nan=False)


def read_recording(lines: Iterable[bytes]) -> Iterator[RecordedMessage | BadLine]:
    """Yield each line's message, or a BadLine saying why it could not be read."""
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield BadLine(line_no, f"line is {len(raw)} bytes, over the {MAX_LINE_BYTES} limit")
            continue
        try:
            line = json.loads(raw)
        except ValueError as exc:
            yield BadLine(line_no, f"not JSON: {exc}")
            continue
        if not isinstance(line, dict):
            yield BadLine(line_no, "not a JSON object")
            continue
        topic, payload, received_at = (
            line.get("topic"),
            line.get("payload"),
            line.get("received_at"),
        )
        if not isinstance(topic, str):
            yield BadLine(line_no, "topic: missing or not a string")
        elif not isinstance(payload, dict):
            yield BadLine(line_no, "payload: missing or not an object")
        elif received_at is not None and not isinstance(received_at, int | float):
            yield BadLine(line_no, "received_at: not a number")
        else:
            yield RecordedMessage(line_no, topic, payload, received_at)
