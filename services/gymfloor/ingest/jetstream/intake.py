"""One partition's intake: the `Intake` of ingest's service, over a JetStream stream.

The stream is the journal. Positions are stream sequences: a checkpoint covers its partition's
messages up to one, replay reads the stream after it (up to where live delivery took over), and
acknowledging one purges the partition's messages up to it from the stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

from gymfloor.ingest.intake import IntakeHealth, Message
from gymfloor.ingest.jetstream.client import NatsLoop
from gymfloor.ingest.jetstream.pulls import Delivered
from gymfloor.ingest.jetstream.reader import read_partition
from gymfloor.ingest.jetstream.subjects import partition_filter, topic_of_stored
from gymfloor.ingest.lanes import Lanes

log = logging.getLogger("gymfloor.ingest")


class PartitionIntake:
    def __init__(self, nats: NatsLoop, stream: str, partition: int, first_live: int) -> None:
        """`first_live`: the stream sequence of the first message delivered live."""
        self.partition = partition
        self._nats = nats
        self._stream = stream
        self._first_live = first_live
        self._lanes: Lanes[Message] = Lanes()
        self._last_put = first_live - 1
        self.purge_errors = 0

    # -- the loop's thread -----------------------------------------------------------------------

    def deliver(self, batch: list[Delivered]) -> None:
        # The batch's last sequence stands for all of it: a cut covers whole batches.
        last = batch[-1].stream_seq
        self._lanes.put(last, ((_lane(d.subject), _message(d)) for d in batch))
        self._last_put = last  # after: a cut never covers what is not queued

    def __len__(self) -> int:
        return len(self._lanes)

    # -- the Intake protocol, called from the partition's service thread -------------------------

    def replay(self, after: int | None) -> Iterator[Message]:
        first = 1 if after is None else after + 1
        chunks = read_partition(
            self._nats.jetstream, self._stream, self.partition, first, self._first_live - 1
        )
        while (chunk := self._nats.run(_next(chunks), timeout=60.0)) is not None:
            yield from (_message(d) for d in chunk)

    def start(self) -> None:
        """Live messages are already coming in: the puller started them when it was pinned."""

    def take(self, limit: int, timeout: float) -> list[Message]:
        return self._lanes.take(limit, timeout)

    def cut(self) -> int:
        return self._last_put

    def take_through(self, position: int, limit: int) -> list[Message]:
        return self._lanes.take(limit, 0, up_to_segment=position)

    def acknowledge(self, position: int) -> None:
        """The checkpoint covers the partition up to `position`: the stream may drop it."""
        request = {"filter": partition_filter(self.partition), "seq": position + 1}
        subject = f"$JS.API.STREAM.PURGE.{self._stream}"
        try:
            reply = self._nats.run(self._nats.client.request(subject, json.dumps(request).encode()))
            error = json.loads(reply.data).get("error")
            if error:
                raise RuntimeError(error.get("description"))
        except Exception as exc:  # the stream's age limit drops them later anyway
            self.purge_errors += 1
            log.warning("partition %d: could not purge up to %d: %s", self.partition, position, exc)

    def stop(self) -> None:
        """The puller stops handing messages over when the partition is released."""

    def close(self) -> None:
        pass

    def health(self) -> IntakeHealth:
        # Nothing here can fail to be kept: the stream has every message before ingest sees it.
        return IntakeHealth(self._nats.connected.is_set(), len(self._lanes), errors=0)


async def _next(chunks: AsyncIterator[list[Delivered]]) -> list[Delivered] | None:
    return await anext(chunks, None)


def _lane(subject: str) -> str:
    return subject.rpartition(".")[0]  # the machine: its messages stay in order


def _message(delivered: Delivered) -> Message:
    return Message(topic_of_stored(delivered.subject), delivered.data, delivered.stored_at)
