"""A paho-mqtt client configured from gymfloor's settings.

paho's own network thread (`loop_start`) connects, reconnects with exponential back-off, and
resends QoS 1 messages that were in flight when the connection dropped. gymfloor adds the URL
form of the address, credentials, TLS and log lines that say what the connection is doing.
"""

from __future__ import annotations

import logging
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from gymfloor.mqtt.config import BrokerAddress, MqttOptions

log = logging.getLogger("gymfloor.mqtt")

READ_BLOCK = 64 * 1024
_UINT16 = struct.Struct("!H")


class BlockReadingClient(mqtt.Client):
    """paho's client, reading the socket a block at a time and acknowledging a block at once.

    paho asks the socket for each packet a few bytes at a time (the command byte, each byte of
    the length, then the rest) and goes back to select() after one packet: five system calls,
    and as many hand-overs of the interpreter lock, per message. Serving those small reads from
    one large read, and parsing every whole packet already read before waiting again, leaves
    paho's protocol handling untouched.

    For each QoS 1 message paho then queues a PUBACK, writes a byte to its wake-up socket pair
    and, on the next turn of its loop, reads that byte and sends the PUBACK alone. The PUBACKs of
    one block are instead collected and queued as one packet after `after_read` has run: three
    system calls a block instead of three a message, and a receiver that journals the block in
    `after_read` has it on disk before the broker hears of any of it. Both rely on paho's
    internals (`_sock_recv`, `_packet_queue`, `_handle_on_message`), which is why
    pyproject.toml pins paho-mqtt below 3.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._block = b""
        self._offset = 0
        self._reading = False
        self._acks: list[bytes] = []
        self._filtered_callbacks = False
        self.after_read: Callable[[], None] | None = None
        """Called in the network thread after each block's messages were handled, before any
        of them is acknowledged: a receiver that collects them hands them on as one batch."""

    def reconnect(self) -> MQTTErrorCode:
        self._block, self._offset = b"", 0  # bytes of a lost connection mean nothing now
        self._acks = []  # the broker sends those messages again
        return super().reconnect()

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered_callbacks = True
        super().message_callback_add(sub, callback)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._offset >= len(self._block):
            block = super()._sock_recv(READ_BLOCK)  # BlockingIOError when nothing is there
            if not block:
                return block  # the broker closed the connection; paho handles it
            self._block, self._offset = block, 0
        chunk = self._block[self._offset : self._offset + bufsize]
        self._offset += len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self._reading = True
        try:
            rc = super().loop_read(max_packets)
            while rc is MQTTErrorCode.MQTT_ERR_SUCCESS and self._offset < len(self._block):
                rc = super().loop_read(1)
        finally:
            self._reading = False
        if self.after_read is not None:
            self.after_read()
        if self._acks:
            acks, self._acks = b"".join(self._acks), []
            super()._packet_queue(PUBACK, acks, 0, 1)
        return rc

    def _packet_queue(
        self, command: int, packet: bytes | bytearray, mid: int, qos: int, info: Any = None
    ) -> MQTTErrorCode:
        if self._reading and command == PUBACK:  # paho's own, from inside `loop_read`
            self._acks.append(bytes(packet))
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_queue(command, packet, mid, qos, info)

    def _handle_publish(self) -> MQTTErrorCode:
        command, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (command & 0x06) >> 1
        if qos == 2 or self._protocol == mqtt.MQTTv5 or self._manual_ack:
            return super()._handle_publish()
        # An MQTT 3.1.1 PUBLISH at QoS 0 or 1, read as paho does without its per-message extras
        # (a result object, the topic decoded for a debug line nobody may read): 5.5 µs a
        # message in paho, 2.6 here, PUBACK included.
        (topic_length,) = _UINT16.unpack_from(packet, 0)
        at = 2 + topic_length
        message = mqtt.MQTTMessage(0, bytes(packet[2:at]))
        message.qos, message.retain, message.dup = qos, bool(command & 0x01), bool(command & 0x08)
        if qos:
            (message.mid,) = _UINT16.unpack_from(packet, at)
            at += 2
        message.payload = packet[at:]
        message.timestamp = time.monotonic()
        self._handle_on_message(message)
        if qos:
            return self._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        if self._filtered_callbacks:
            super()._handle_on_message(message)
            return
        # paho matches every topic against the per-topic callbacks first: a walk of a trie, 6 %
        # of ingest's CPU, for callbacks none of gymfloor's clients register.
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise


OnConnected = Callable[[mqtt.Client, bool], None]
"""Called in paho's thread after every successful (re)connection, with `session_present`."""


@dataclass(frozen=True, slots=True)
class _Context:
    address: BrokerAddress
    on_connected: OnConnected | None


def new_client(
    options: MqttOptions,
    client_id: str,
    *,
    persistent: bool,
    will: tuple[str, bytes] | None = None,
    on_connected: OnConnected | None = None,
) -> BlockReadingClient:
    """A client that logs its connection state. `persistent` keeps the broker-side session (its
    subscriptions and the QoS 1 messages queued for it) while the client is away. A `will` is
    published retained by the broker if the client vanishes."""
    address = options.address
    client = BlockReadingClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,  # what every broker speaks, the embedded demo broker included
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        context = ssl.create_default_context(
            cafile=str(options.ca_file) if options.ca_file else None
        )
        if options.cert_file:
            context.load_cert_chain(
                options.cert_file, options.key_file if options.key_file else None
            )
        client.tls_set_context(context)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(options.reconnect_min_s, options.reconnect_max_s)
    client.on_connect = _log_connect
    client.on_disconnect = _log_disconnect
    client.on_connect_fail = _log_connect_fail
    client.user_data_set(_Context(address, on_connected))
    return client


def start(client: mqtt.Client, options: MqttOptions) -> None:
    """Connect in paho's network thread, which retries with back-off until it succeeds."""
    address = options.address
    client.connect_async(address.host, address.port, keepalive=options.keepalive_s)
    client.loop_start()


def _log_connect(
    client: mqtt.Client, context: _Context, flags: Any, reason: ReasonCode, properties: Any
) -> None:
    if reason.is_failure:
        log.error("broker %s refused the connection: %s", context.address, reason)
        return
    log.info("connected to %s", context.address, extra={"session_present": flags.session_present})
    if context.on_connected is not None:
        context.on_connected(client, flags.session_present)


def _log_disconnect(
    client: mqtt.Client, context: _Context, flags: Any, reason: ReasonCode, properties: Any
) -> None:
    if reason.is_failure:
        log.warning("lost the connection to %s (%s); reconnecting", context.address, reason)


def _log_connect_fail(client: mqtt.Client, context: _Context) -> None:
    log.warning("cannot reach %s; retrying with back-off", context.address)
