"""Asking a partition's consumer for its messages, as one member of its priority group.

Every worker keeps pull requests waiting on the partitions it bids for. The server serves one
client of the group at a time, the pinned one, whose requests carry the pin id it was given
with its first message; it passes the pin to another waiting client when the pinned one has
asked for nothing for the consumer's `priority_timeout` (a dead worker), or when told to
(`unpin`, a worker handing a partition over).

    on_pinned(first)        the partition is ours from stream sequence `first` on
    on_messages(batch)      its messages, in order, with nothing missing
    on_unpinned()           it passed to another worker

The consumer acknowledges nothing (its progress is the partition's checkpoint), so a message
lost on its way (a node dying with it) would leave a hole: consumer sequences reveal it, and the
missing stream sequences are read from the stream before the message that revealed it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg

from gymfloor.ingest.jetstream.subjects import PRIORITY_GROUP, consumer_name

log = logging.getLogger("gymfloor.ingest")

BATCH = 256
EXPIRES_S = 1.0
NS = 1_000_000_000
PIN_ID = "Nats-Pin-Id"
STATUS = "Status"
PENDING = "Nats-Pending-Messages"


@dataclass(frozen=True, slots=True)
class Delivered:
    stream_seq: int
    subject: str
    data: bytes
    stored_at: float
    """Unix seconds when the stream stored it."""


ReadRange = Callable[[int, int], Awaitable[list[Delivered]]]
"""Stream sequences first..last of the partition, read from the stream itself."""


class PinnedPuller:
    def __init__(
        self,
        client: Client,
        stream: str,
        partition: int,
        read_range: ReadRange,
        on_pinned: Callable[[int], None],
        on_messages: Callable[[list[Delivered]], None],
        on_unpinned: Callable[[], None],
        room: Callable[[], bool],
    ) -> None:
        self.partition = partition
        self._client = client
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer_name(partition)}"
        self._unpin_subject = f"$JS.API.CONSUMER.UNPIN.{stream}.{consumer_name(partition)}"
        self._read_range = read_range
        self._on_pinned = on_pinned
        self._on_messages = on_messages
        self._on_unpinned = on_unpinned
        self._room = room
        self.bidding = False
        """Whether to ask for the partition while not holding it."""
        self._paused = False
        self.pin: str | None = None
        self._credit = 0  # messages the waiting requests may still bring
        self._last_heard = 0.0
        self._consumer_seq = 0  # of the last delivered message
        self._stream_seq = 0
        self._inbox = client.new_inbox()
        self._buffer: list[Delivered] = []

    @property
    def holding(self) -> bool:
        return self.pin is not None

    async def run(self) -> None:
        await self._client.subscribe(self._inbox, cb=self._receive, pending_msgs_limit=-1)
        while True:
            await self._ask()
            await asyncio.sleep(EXPIRES_S / 4)

    def pause(self) -> None:
        """Ask for nothing more, holding or not, until `release`."""
        self.bidding = False
        self._paused = True

    async def release(self) -> None:
        """Give the partition up at once: the server pins the next waiting worker."""
        self.pin = None
        self.bidding = False
        self._paused = False
        body = json.dumps({"group": PRIORITY_GROUP}).encode()
        try:
            await self._client.request(self._unpin_subject, body, timeout=5.0)
        except Exception as exc:  # the pin then lapses after its timeout instead
            log.warning("could not unpin partition %d: %s", self.partition, exc)

    async def _ask(self) -> None:
        if self._paused or not (self.holding or self.bidding):
            return
        if time.monotonic() - self._last_heard > 3 * EXPIRES_S:
            self._credit = 0  # requests lost with a connection or a node: ask anew
        if self._credit >= BATCH:
            return
        # Short of room, a holder still asks (for one message) so as to keep its pin.
        batch = BATCH if self._room() else 1
        request = {"batch": batch, "expires": int(EXPIRES_S * NS), "group": PRIORITY_GROUP}
        if self.pin is not None:
            request["id"] = self.pin  # type: ignore[assignment]
        self._credit += batch
        self._last_heard = max(self._last_heard, time.monotonic())
        try:
            await self._client.publish(
                self._next_subject, json.dumps(request).encode(), reply=self._inbox
            )
        except Exception as exc:  # disconnected: the reconnect asks again
            self._credit = 0
            log.debug("pull request for partition %d failed: %s", self.partition, exc)

    async def _receive(self, msg: Msg) -> None:
        self._last_heard = time.monotonic()
        headers = msg.headers or {}
        status = headers.get(STATUS)
        if status is not None and not msg.data:
            await self._status(status, headers)
            return
        # nats-py hands a subscription's messages over one at a time, in order, so nothing
        # below interleaves with the next delivery.
        self._credit -= 1
        pin = headers.get(PIN_ID)
        was_empty = not self._buffer
        stream_seq, consumer_seq, stored_ns = delivery_sequences(msg.reply)
        if pin is not None and pin != self.pin:
            self.pin = pin
            self._stream_seq, self._consumer_seq = stream_seq - 1, consumer_seq - 1
            self._on_pinned(stream_seq)
        elif consumer_seq != self._consumer_seq + 1 and self.holding:
            await self._fill_gap(stream_seq)
        self._consumer_seq, self._stream_seq = consumer_seq, stream_seq
        self._buffer.append(Delivered(stream_seq, msg.subject, msg.data, stored_ns / NS))
        if was_empty:
            asyncio.get_running_loop().call_soon(self._flush)
        if self._credit < BATCH // 2:
            await self._ask()

    def _flush(self) -> None:
        """Everything received in one turn of the loop goes to the pipeline in one hand-over."""
        batch, self._buffer = self._buffer, []
        if batch and self.holding:
            self._on_messages(batch)

    async def _fill_gap(self, stream_seq: int) -> None:
        missing = await self._read_range(self._stream_seq + 1, stream_seq - 1)
        if missing:
            log.warning(
                "partition %d: %d messages lost on their way read from the stream",
                self.partition,
                len(missing),
            )
            self._buffer.extend(missing)

    async def _status(self, status: str, headers: dict[str, str]) -> None:
        if status == "423":  # our pin is not the partition's any more
            if self.pin is not None:
                self.pin = None
                self._flush()
                self._on_unpinned()
            self._credit = 0
        elif status in ("408", "409"):  # a request expired, or the server dropped it
            self._credit -= int(headers.get(PENDING, BATCH))
            self._credit = max(self._credit, 0)
        elif status == "503":
            # No consumer leader to take it (an election): ask again on the next round, not
            # at once, or every worker floods the cluster while it elects.
            self._credit = 0
            return
        await self._ask()


def delivery_sequences(reply: str) -> tuple[int, int, int]:
    """Stream sequence, consumer sequence and storage time (ns) from a delivery's reply subject:
    `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`, or the same after a
    domain and an account hash."""
    tokens = reply.split(".")
    first = 5 if len(tokens) == 9 else 7
    return int(tokens[first]), int(tokens[first + 1]), int(tokens[first + 2])
