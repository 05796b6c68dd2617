"""Which workers are alive: a key per worker in a bucket whose keys expire, renewed every
heartbeat. A worker takes its fair share of the partitions: all of them divided by the live
workers, rounded up."""

from __future__ import annotations

import asyncio
import logging
import math

from nats.js.errors import NoKeysError

from gymfloor.ingest.jetstream.client import NatsLoop
from gymfloor.ingest.jetstream.topology import WORKERS_BUCKET

log = logging.getLogger("gymfloor.ingest")


class Membership:
    def __init__(self, nats: NatsLoop, worker: str, heartbeat_s: float) -> None:
        self.worker = worker
        self.workers = 1
        self._nats = nats
        self._heartbeat_s = heartbeat_s

    def fair_share(self, partitions: int) -> int:
        return math.ceil(partitions / max(1, self.workers))

    async def run(self) -> None:
        js = self._nats.jetstream
        while True:
            try:
                bucket = await js.key_value(WORKERS_BUCKET)
                await bucket.put(self.worker, b"alive")
                try:
                    workers = len(await bucket.keys())  # a worker that left is not listed
                except NoKeysError:  # not even this one's, lost in an election: next beat
                    workers = self.workers
                if workers != self.workers:
                    log.info("%d ingest workers alive", workers)
                self.workers = workers
            except Exception as exc:  # a cluster election, say: try again next beat
                log.warning("could not renew this worker's membership: %s", exc)
            await asyncio.sleep(self._heartbeat_s)

    async def leave(self) -> None:
        bucket = await self._nats.jetstream.key_value(WORKERS_BUCKET)
        await bucket.purge(self.worker)
