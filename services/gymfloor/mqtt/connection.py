"""A paho-mqtt client configured from gymfloor's settings.

paho's own network thread (`loop_start`) connects, reconnects with exponential back-off, and
resends QoS 1 messages that were in flight when the connection dropped. gymfloor adds the URL
form of the address, credentials, TLS and log lines that say what the connection is doing.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, PUBLISH
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.reasoncodes import ReasonCode

from gymfloor.mqtt.config import BrokerAddress, MqttOptions

log = logging.getLogger("gymfloor.mqtt")

READ_BLOCK = 64 * 1024
_PUBACK = bytes((PUBACK, 2))
"""A PUBACK's fixed header; the message id follows."""
_QOS_0, _QOS_1 = PUBLISH, PUBLISH | 0x02
"""A PUBLISH's command byte at each QoS, its DUP and RETAIN bits masked out (0xF6)."""

Received = tuple[str, bytes]
"""A message's topic and payload."""


class BlockReadingClient(mqtt.Client):
    """paho's client, reading the socket a block at a time and handing on a read's messages at once.

    paho reads each packet a few bytes at a time (the command byte, each byte of the length, then
    the rest) and goes back to select() after each; for a QoS 1 message it then builds a message
    and a result object (with a lock of its own), queues the PUBACK alone and wakes its loop to
    send it. This client reads what the socket holds, up to 64 KiB, and splits it into packets
    itself. A PUBLISH of MQTT 3.1.1 at QoS 0 or 1 it reads itself; every other packet goes to
    paho's handler for it. Ingest's network thread, journal and lanes included, took 12.5 µs a
    message reading through paho, 3.2 µs so (60,000 messages from a stand-in for the broker).

    The PUBACKs of a read are queued as one packet once its messages were handed on, to
    `on_messages` all at once if it is set (else to paho's `on_message`, one by one): a receiver
    that journals them there has them on disk before the broker hears of any. All this relies on
    paho's internals (`_packet_read`, `_in_packet`, `_packet_handle`, `_packet_queue`,
    `_handle_on_message`), which is why pyproject.toml pins paho-mqtt below 3.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partial = b""  # the start of a packet the last read did not hold whole
        self._reading = False
        self._received: list[Received] = []
        self._acks: list[bytes] = []
        self._wake_pending = False  # a byte wakes the network thread, which has yet to write
        self._filtered_callbacks = False
        self.on_messages: Callable[[list[Received]], None] | None = None
        """Called in the network thread with each read's messages, in order, before any of them
        is acknowledged; when set, `on_message` is not called."""

    def reconnect(self) -> MQTTErrorCode:
        self._partial = b""  # bytes of a lost connection mean nothing now
        self._acks = []  # the broker sends those messages again
        self._wake_pending = False
        return super().reconnect()

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered_callbacks = True
        super().message_callback_add(sub, callback)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self._reading = True
        try:
            rc = super().loop_read(max_packets)
        finally:
            self._reading = False
        if self._received:
            received, self._received = self._received, []
            self._hand_on(received)
        if self._acks:
            acks, self._acks = b"".join(self._acks), []
            # Written now: paho would wake its own loop through a socket pair to write it (three
            # more system calls).
            self._queue(PUBACK, acks, 0, 1, None)
            self.loop_write()  # a lost connection shows in `_sock`, which paho's loop checks
        return rc

    def loop_write(self) -> MQTTErrorCode:
        self._wake_pending = False  # before writing: whatever is queued from now on wakes it
        return super().loop_write()

    def _packet_read(self) -> MQTTErrorCode:
        try:
            data = self._sock_recv(READ_BLOCK)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as err:  # timeouts included
            self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        block = self._partial + data if self._partial else data
        done, rc = self._read_packets(block)
        self._partial = block[done:]
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        return rc

    def _read_packets(self, block: bytes) -> tuple[int, MQTTErrorCode]:
        """Handle the whole packets in `block`; returns where the rest starts."""
        lean = self._protocol != mqtt.MQTTv5 and not self._manual_ack
        at, end = 0, len(block)
        while at < end:
            # The fixed header: a command byte, then the length of the rest, 7 bits a byte.
            length, shift, start = 0, 0, at + 1
            while True:
                if start == end:
                    return at, MQTTErrorCode.MQTT_ERR_SUCCESS
                byte = block[start]
                start += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    return at, MQTTErrorCode.MQTT_ERR_PROTOCOL
            stop = start + length
            if stop > end:
                return at, MQTTErrorCode.MQTT_ERR_SUCCESS
            command = block[at]
            if lean and command & 0xF6 in (_QOS_0, _QOS_1):
                rc = self._read_publish(command, block, start, stop)
            else:
                rc = self._handle_packet(command, block[start:stop])
            if rc:
                return stop, rc
            at = stop
        return at, MQTTErrorCode.MQTT_ERR_SUCCESS

    def _read_publish(self, command: int, block: bytes, start: int, stop: int) -> MQTTErrorCode:
        """A PUBLISH at QoS 0 or 1 (its packet is block[start:stop]), read as paho reads it."""
        if stop - start < 2:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        topic_end = start + 2 + (block[start] << 8 | block[start + 1])
        payload_start = topic_end + 2 if command & 0x02 else topic_end  # QoS 1: a message id
        if payload_start > stop:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        topic, payload = block[start + 2 : topic_end], block[payload_start:stop]
        if self.on_messages is not None:
            self._received.append((topic.decode(), payload))
        else:
            message = mqtt.MQTTMessage(0, topic)
            message.qos, message.retain = command >> 1 & 0x03, bool(command & 0x01)
            message.dup = bool(command & 0x08)
            if message.qos:
                message.mid = block[topic_end] << 8 | block[topic_end + 1]
            message.payload = payload
            message.timestamp = time.monotonic()
            self._handle_on_message(message)
        if payload_start > topic_end:
            self._acks.append(_PUBACK + block[topic_end:payload_start])
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_packet(self, command: int, packet: bytes) -> MQTTErrorCode:
        """Any other packet, to paho's handler for it, as paho's own reading leaves it there."""
        self._in_packet = {
            "command": command,
            "have_remaining": 1,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": len(packet),
            "packet": bytearray(packet),
            "to_process": 0,
            "pos": 0,
        }
        try:
            return self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL

    def _packet_queue(
        self, command: int, packet: bytes | bytearray, mid: int, qos: int, info: Any = None
    ) -> MQTTErrorCode:
        if self._reading and command == PUBACK:  # paho's own, from inside `loop_read`
            self._acks.append(bytes(packet))
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        if self._thread is None:  # no network thread to wake
            return super()._packet_queue(command, packet, mid, qos, info)
        # paho wakes the network thread for every packet, a byte through a socket pair; it
        # then writes all that is queued. So a packet queued before it has begun writing
        # (`loop_write`) needs no byte of its own: one system call less for the thread that
        # publishes, and one wake-up less for the network thread.
        self._queue(command, packet, mid, qos, info)
        if not self._wake_pending:
            self._wake_pending = True
            if self._sockpairW is not None:
                with contextlib.suppress(BlockingIOError):
                    self._sockpairW.send(mqtt.sockpair_data)
            self._call_socket_register_write()
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _queue(
        self, command: int, packet: bytes | bytearray, mid: int, qos: int, info: Any
    ) -> None:
        """Queue a packet for the network thread to write, as paho queues it."""
        self._out_packet.append(
            {
                "command": command,
                "mid": mid,
                "qos": qos,
                "pos": 0,
                "to_process": len(packet),
                "packet": packet,
                "info": info,
            }
        )

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        if self.on_messages is not None:  # one paho read: MQTT 5, QoS 2 or manual acknowledgement
            self._received.append((message.topic, bytes(message.payload)))
            return
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

    def _hand_on(self, received: list[Received]) -> None:
        on_messages = self.on_messages
        if on_messages is None:
            return
        with self._in_callback_mutex:
            try:
                on_messages(received)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_messages: %s", err)
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
