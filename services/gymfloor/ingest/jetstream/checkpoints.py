"""A partition's checkpoint in JetStream, written only by the worker that owns the partition.

The checkpoint itself (megabytes) is an object of the object store; a key-value entry per
partition names the latest one, its position and the partition's owner. Every change to that
entry names the revision it replaces, so a worker that lost the partition without noticing yet
(a long pause, say) cannot put an older state over its successor's: its write is refused, and
it gives the partition up.

    claim()   on taking the partition over: the entry now names this worker
    load()    the checkpoint the entry names, if any
    save()    a new object, then the entry moved onto it, then the old object deleted
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from typing import IO

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from gymfloor.ingest.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from gymfloor.ingest.jetstream.client import NatsLoop
from gymfloor.ingest.jetstream.topology import CHECKPOINTS_BUCKET, PARTITIONS_BUCKET

log = logging.getLogger("gymfloor.ingest")

SAVE_TIMEOUT_S = 60.0


class PartitionLost(RuntimeError):
    """Another worker owns the partition now."""


@dataclass(frozen=True, slots=True)
class CheckpointEntry:
    owner: str
    checkpoint: str | None
    """The object holding the latest checkpoint."""
    position: int | None

    def encode(self) -> bytes:
        return json.dumps(
            {"owner": self.owner, "checkpoint": self.checkpoint, "position": self.position}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> CheckpointEntry:
        fields = json.loads(raw)
        return cls(fields["owner"], fields["checkpoint"], fields["position"])


class PartitionCheckpoints:
    def __init__(self, nats: NatsLoop, partition: int, owner: str) -> None:
        self.partition = partition
        self.owner = owner
        self._nats = nats
        self._key = f"p{partition}"
        self._entry = CheckpointEntry(owner, None, None)
        self._revision = 0
        self._saved = 0

    def claim(self) -> None:
        self._nats.run(self._claim(), timeout=SAVE_TIMEOUT_S)

    def load(self) -> Checkpoint | None:
        if self._entry.checkpoint is None:
            return None
        with tempfile.TemporaryFile() as spool:
            self._nats.run(self._fetch(self._entry.checkpoint, spool), timeout=SAVE_TIMEOUT_S)
            spool.seek(0)
            return read_checkpoint(spool)

    def save(self, checkpoint: Checkpoint) -> None:
        # Pickled here, on the committer's thread: the loop's thread serves every partition.
        with tempfile.TemporaryFile() as spool:
            write_checkpoint(checkpoint, spool)
            spool.seek(0)
            self._nats.run(self._store(spool, checkpoint.position), timeout=SAVE_TIMEOUT_S)

    # -- on the loop -----------------------------------------------------------------------------

    async def _buckets(self) -> tuple[KeyValue, ObjectStore]:
        js = self._nats.jetstream
        return await js.key_value(PARTITIONS_BUCKET), await js.object_store(CHECKPOINTS_BUCKET)

    async def _claim(self) -> None:
        entries, _ = await self._buckets()
        try:
            current = await entries.get(self._key)
        except KeyNotFoundError:
            self._revision = await entries.create(self._key, self._entry.encode())
            return
        assert current.value is not None
        previous = CheckpointEntry.decode(current.value)
        self._entry = CheckpointEntry(self.owner, previous.checkpoint, previous.position)
        try:
            self._revision = await entries.update(
                self._key, self._entry.encode(), last=current.revision
            )
        except KeyWrongLastSequenceError:
            raise PartitionLost(
                f"partition {self.partition}: its checkpoint entry changed while claiming it"
            ) from None
        if previous.owner != self.owner:
            log.info(
                "partition %d taken over from %s at position %s",
                self.partition,
                previous.owner,
                previous.position,
            )

    async def _fetch(self, name: str, spool: IO[bytes]) -> None:
        _, objects = await self._buckets()
        await objects.get(name, writeinto=spool)  # type: ignore[arg-type]

    async def _store(self, spool: IO[bytes], position: int) -> None:
        entries, objects = await self._buckets()
        self._saved += 1
        name = f"{self._key}.{self.owner}.{self._saved}"
        await objects.put(name, spool)  # type: ignore[arg-type]
        entry = CheckpointEntry(self.owner, name, position)
        try:
            self._revision = await entries.update(self._key, entry.encode(), last=self._revision)
        except KeyWrongLastSequenceError:
            await objects.delete(name)
            raise PartitionLost(
                f"partition {self.partition} passed to another worker; checkpoint dropped"
            ) from None
        previous, self._entry = self._entry.checkpoint, entry
        if previous is not None:
            await objects.delete(previous)
