"""A partition's messages read from the stream itself, by stream sequence: what a new owner
replays after the partition's checkpoint, and what fills a hole in the consumer's deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from gymfloor.ingest.jetstream.pulls import Delivered
from gymfloor.ingest.jetstream.subjects import partition_filter

CHUNK = 1000
QUIET_S = 1.0
"""A fetch that brings nothing for this long means the stream holds no more."""


async def read_partition(
    js: JetStreamContext, stream: str, partition: int, first: int, last: int | None
) -> AsyncIterator[list[Delivered]]:
    """Stream sequences `first` to `last` (None: to the end) of the partition, in chunks."""
    if last is not None and last < first:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=first,
        ack_policy=AckPolicy.NONE,
        mem_storage=True,
        num_replicas=1,
        inactive_threshold=30.0,
    )
    subscription = await js.pull_subscribe(
        partition_filter(partition), stream=stream, config=config
    )
    try:
        while True:
            try:
                messages = await subscription.fetch(CHUNK, timeout=QUIET_S)
            except NatsTimeout:
                return
            chunk = []
            for message in messages:
                meta = message.metadata
                if last is not None and meta.sequence.stream > last:
                    break
                stored_at = meta.timestamp.timestamp() if meta.timestamp else 0.0
                chunk.append(
                    Delivered(meta.sequence.stream, message.subject, message.data, stored_at)
                )
            if chunk:
                yield chunk
            if len(chunk) < len(messages) or meta.num_pending == 0:
                return
    finally:
        await subscription.unsubscribe()


async def read_all(
    js: JetStreamContext, stream: str, partition: int, first: int, last: int
) -> list[Delivered]:
    return [d async for chunk in read_partition(js, stream, partition, first, last) for d in chunk]
