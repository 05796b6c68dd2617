"""The way out of an edge agent (or a replay) to the broker: QoS 1, in order, never lost.

Every message goes into the outbox first. A window of them at a time is handed to paho, which
resends what was in flight when a connection drops; a message leaves the outbox only when the
broker has acknowledged it. After a reconnect nothing new is handed over until an old message
has been acknowledged again, so resent messages always go out ahead of newer ones.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Literal

import paho.mqtt.client as mqtt

from gymfloor.contract import VERSION, MachineChannel, MachineKey, StatusPayload, encode_payload
from gymfloor.mqtt import MqttOptions, new_client, start
from gymfloor_edge.outbox import Outbox

log = logging.getLogger("gymfloor.edge")


Presence = Literal["online", "offline"]


def status_payload(state: Presence, t: float | None = None) -> bytes:
    rounded = None if t is None else round(t, 3)
    return encode_payload(StatusPayload(v=VERSION, state=state, t=rounded))


class Uplink:
    def __init__(
        self,
        options: MqttOptions,
        client_id: str,
        outbox: Outbox,
        machine: MachineKey | None = None,
        window: int = 200,
    ) -> None:
        """With `machine`, the uplink speaks for that machine's presence: `online` while
        connected, and an `offline` will for when it vanishes."""
        self.outbox = outbox
        self.machine = machine
        self.window = window
        self.acknowledged = 0
        will = None
        if machine is not None:
            will = (machine.topic(MachineChannel.STATUS), status_payload("offline"))
        self._client = new_client(
            options, client_id, persistent=False, will=will, on_connected=self._connected
        )
        self._client.max_inflight_messages_set(window)
        self._client.on_publish = self._acknowledged
        self._options = options
        self._inflight: dict[int, int] = {}  # paho message id → outbox row id
        self._cursor = 0  # the last outbox row handed to paho
        self._resuming = False  # reconnected with messages in flight: wait for their acks
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._pumping = threading.Lock()
        self._dirty = False
        self._drained = threading.Condition()

    def start(self) -> None:
        start(self._client, self._options)

    def send(self, topic: str, payload: bytes) -> None:
        self.outbox.append(topic, payload)
        self._kick()

    def drain(self, timeout: float | None, leave: int = 0) -> bool:
        """Wait until at most `leave` messages await the broker's acknowledgement; False on
        timeout."""
        with self._drained:
            return self._drained.wait_for(lambda: len(self.outbox) <= leave, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what can be delivered within `timeout`, say goodbye, disconnect. Whatever is
        left stays in the outbox for the next start."""
        if not self.drain(timeout):
            log.warning("%d messages not yet delivered; kept for the next start", len(self.outbox))
        if self.machine is not None and self._client.is_connected():
            goodbye = self._announce(self._client, self.machine, "offline")
            goodbye.wait_for_publish(timeout=min(timeout, 2.0))
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()

    @staticmethod
    def _announce(
        client: mqtt.Client, machine: MachineKey, state: Presence
    ) -> mqtt.MQTTMessageInfo:
        """Presence goes around the outbox: only the latest matters, and the broker keeps it."""
        status = status_payload(state, time.time())
        return client.publish(machine.topic(MachineChannel.STATUS), status, qos=1, retain=True)

    # -- paho's thread -------------------------------------------------------------------------

    def _connected(self, client: mqtt.Client, session_present: bool) -> None:
        if self.machine is not None:
            self._announce(client, self.machine, "online")
        # paho resends what was in flight after this callback returns; until one of those is
        # acknowledged, newer messages must wait or they would overtake.
        self._resuming = bool(self._inflight)
        self._kick()

    def _acknowledged(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        self._acks.put(mid)
        self._kick()

    # -- either thread -------------------------------------------------------------------------

    def _kick(self) -> None:
        """Settle acknowledgements and hand paho more messages. Whoever holds the lock does the
        work for everyone, so no thread ever waits here (paho calls this from callbacks)."""
        self._dirty = True
        while self._dirty:
            if not self._pumping.acquire(blocking=False):
                return
            try:
                self._dirty = False
                self._settle()
                self._pump()
            finally:
                self._pumping.release()

    def _settle(self) -> None:
        done: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            row = self._inflight.pop(mid, None)
            if row is not None:
                done.append(row)
        if not done:
            return
        self._resuming = False
        self.outbox.remove(done)
        self.acknowledged += len(done)
        with self._drained:
            self._drained.notify_all()

    def _pump(self) -> None:
        if self._resuming or not self._client.is_connected():
            return
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        for row_id, topic, payload in self.outbox.after(self._cursor, room):
            info = self._client.publish(topic, payload, qos=1)
            self._inflight[info.mid] = row_id
            self._cursor = row_id
