"""The intake for a plain MQTT broker (Mosquitto, EMQX, …): paho, a local journal, and lanes.

paho's network thread reads a block of messages from the socket and hands them on at once; they
are appended to the journal in one write and queued in one lane per machine (`lanes.py`), and
only then does the client acknowledge them (`gymfloor.mqtt.BlockReadingClient`), so the
broker hears "received" (PUBACK) only once the journal has them. The
journal's segments are the positions: a checkpoint closes one, and acknowledging it deletes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from gymfloor.contract import INGEST_CHANNELS, machine_filter
from gymfloor.ingest.intake import IntakeHealth, Message
from gymfloor.ingest.journal import Journal
from gymfloor.ingest.lanes import Lanes
from gymfloor.mqtt import MqttOptions, new_client, start
from gymfloor.mqtt.connection import Received

log = logging.getLogger("gymfloor.ingest")

MAX_INFLIGHT = 1000
"""QoS 1 messages the broker may send before ingest acknowledges the first."""


class MqttIntake:
    def __init__(
        self, options: MqttOptions, client_id: str, journal_dir: Path, max_pending: int
    ) -> None:
        self.journal = Journal(journal_dir)
        self.journal_errors = 0
        self._options = options
        self._max_pending = max_pending
        self._lanes: Lanes[Message] = Lanes()
        self._lock = threading.Lock()  # a journal segment and its lane entries change together
        self._stopping = threading.Event()
        self.client = new_client(options, client_id, persistent=True, on_connected=_subscribe)
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.client.on_messages = self._receive
        self.client.on_subscribe = _log_subscribed

    # -- the Intake protocol, called from the service's thread -----------------------------------

    def replay(self, after: int | None) -> Iterator[Message]:
        if after is not None:
            self.journal.write_after(after)
        yield from self.journal.replay(0 if after is None else after + 1)

    def start(self) -> None:
        start(self.client, self._options)

    def take(self, limit: int, timeout: float) -> list[Message]:
        return self._lanes.take(limit, timeout)

    def cut(self) -> int:
        with self._lock:
            return self.journal.rotate()

    def take_through(self, position: int, limit: int) -> list[Message]:
        return self._lanes.take(limit, 0, up_to_segment=position)

    def acknowledge(self, position: int) -> None:
        self.journal.drop_before(position + 1)

    def publish(self, topic: str, payload: bytes) -> None:
        """What ingest publishes goes out on the same connection."""
        self.client.publish(topic, payload, qos=1)

    def stop(self) -> None:
        self._stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

    def close(self) -> None:
        self.journal.close()

    def health(self) -> IntakeHealth:
        return IntakeHealth(self.client.is_connected(), len(self._lanes), self.journal_errors)

    # -- paho's network thread -------------------------------------------------------------------

    def _receive(self, received: list[Received]) -> None:
        """Journal a read's messages, then queue them: before the client acknowledges any."""
        if len(self._lanes) >= self._max_pending:
            # Stop reading while the pipeline catches up; the broker holds the rest meanwhile.
            while not self._lanes.wait_below(self._max_pending, timeout=1.0):
                if self._stopping.is_set():
                    break  # the shutdown drain takes these
        received_at = time.time()
        messages = [Message(topic, payload, received_at) for topic, payload in received]
        with self._lock:
            try:
                segment = self.journal.append(messages)
            except OSError as exc:  # a full disk must not stop the floor
                self.journal_errors += len(messages)
                log.error(
                    "cannot journal %d messages (%s); a restart now would lose them",
                    len(messages),
                    exc,
                )
                segment = self.journal.segment
            # One lane per machine, whatever the channel, so that its messages stay in order. The
            # topic is checked later, in the pipeline; here its machine part is enough.
            self._lanes.put(segment, [(m.topic.rpartition("/")[0], m) for m in messages])


def _subscribe(client: mqtt.Client, session_present: bool) -> None:
    # Subscribing again is harmless when the broker kept the session, and needed when the
    # broker lost it (restarted without persistence).
    client.subscribe([(machine_filter(channel), 1) for channel in INGEST_CHANNELS])


def _log_subscribed(
    client: mqtt.Client, userdata: object, mid: int, reasons: list[Any], properties: object
) -> None:
    refused = [r for r in reasons if r.is_failure]
    if refused:
        log.error("the broker refused %d of the subscriptions: %s", len(refused), refused[0])
    else:
        log.info("subscribed to the telemetry, session and status of every machine")
