"""`gymfloor record` and `gymfloor replay`: live traffic to a recording and back (contract §6)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import msgspec
import paho.mqtt.client as mqtt

from gymfloor.contract import (
    INGEST_CHANNELS,
    BadLine,
    RecordedMessage,
    encode_line,
    machine_filter,
    read_recording,
)
from gymfloor.contract.topics import PREFIX
from gymfloor.mqtt import MqttOptions, new_client, start
from gymfloor_edge.outbox import Outbox
from gymfloor_edge.uplink import Uplink

log = logging.getLogger("gymfloor.recorder")

PROGRESS_EVERY_S = 10.0
REPLAY_AHEAD = 10_000
"""Messages a replay queues ahead of the broker's acknowledgements."""


@dataclass(slots=True)
class RecordCounts:
    recorded: int = 0
    skipped: int = 0


def record(
    options: MqttOptions,
    sink: IO[str],
    stopping: threading.Event,
    everything: bool = False,
    count: int | None = None,
) -> RecordCounts:
    """Write every message the ingest service would read (with `everything`, all of
    gymfloor/v1/#) until `stopping` is set or `count` messages are recorded."""
    counts = RecordCounts()
    filters = [f"{PREFIX}/#"] if everything else [machine_filter(c) for c in INGEST_CHANNELS]

    def subscribe(client: mqtt.Client, session_present: bool) -> None:
        client.subscribe([(f, 1) for f in filters])

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if stopping.is_set():
            return
        try:  # standard JSON only, which a recording line can hold
            payload = msgspec.json.decode(message.payload)
        except msgspec.DecodeError:
            payload = None
        if not isinstance(payload, dict):  # a recording holds JSON objects only
            counts.skipped += 1
            return
        # Encoded again, not copied: a payload laid out over several lines would break the line.
        sink.write(encode_line(message.topic, payload, round(time.time(), 4)) + "\n")
        counts.recorded += 1
        if count is not None and counts.recorded >= count:
            stopping.set()

    client = new_client(
        options, f"gymfloor-record-{secrets.token_hex(4)}", persistent=False, on_connected=subscribe
    )
    client.on_message = on_message
    start(client, options)
    try:
        while not stopping.wait(PROGRESS_EVERY_S):
            log.info("recorded %d messages so far", counts.recorded)
    finally:
        client.disconnect()
        client.loop_stop()
        sink.flush()
    log.info("recorded %d messages (%d not JSON objects, skipped)", counts.recorded, counts.skipped)
    return counts


def replay(
    options: MqttOptions,
    lines: Iterable[bytes],
    speed: float,
    stopping: threading.Event,
    timeout_s: float = 60.0,
) -> int:
    """Publish a recording's messages in order, `speed` times as fast as they were recorded
    (0: as fast as the broker takes them). Returns how many the broker acknowledged."""
    uplink = Uplink(options, f"gymfloor-replay-{secrets.token_hex(4)}", Outbox(None, 10**9))
    uplink.start()
    sent = skipped = 0
    first: float | None = None
    started = time.monotonic()
    last_progress = started
    try:
        for item in read_recording(lines):
            if stopping.is_set():
                break
            if isinstance(item, BadLine):
                skipped += 1
                continue
            if speed > 0:
                at = _recorded_time(item)
                if at is not None:
                    first = at if first is None else first
                    wait = started + (at - first) / speed - time.monotonic()
                    if wait > 0 and stopping.wait(wait):
                        break
            uplink.send(item.topic, bytes(item.payload))
            sent += 1
            while len(uplink.outbox) > REPLAY_AHEAD and not stopping.is_set():
                uplink.drain(1.0, leave=REPLAY_AHEAD // 2)
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                log.info("replayed %d messages so far", sent)
        if not uplink.drain(timeout_s):
            log.error("the broker did not acknowledge %d messages", len(uplink.outbox))
    finally:
        acknowledged = uplink.acknowledged
        uplink.close(timeout=1.0)
    log.info("replayed %d messages (%d bad lines skipped)", acknowledged, skipped)
    return acknowledged


class _Clock(msgspec.Struct):
    """The times a payload may carry: a batch's first sample, or an event's moment."""

    t0: float | None = None
    t: float | None = None


_CLOCK = msgspec.json.Decoder(_Clock)


def _recorded_time(item: RecordedMessage) -> float | None:
    """When the message was received, or failing that when it says it was sent."""
    if item.received_at is not None:
        return item.received_at
    try:
        clock = _CLOCK.decode(item.payload)
    except msgspec.DecodeError:  # no usable time: sent at once, for ingest to judge
        return None
    return clock.t0 if clock.t0 is not None else clock.t
