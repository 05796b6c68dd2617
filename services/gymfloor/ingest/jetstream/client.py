"""One NATS connection on an asyncio loop of its own thread, for code that is not async.

nats-py is asyncio-only; ingest's pipeline and committer are plain threads. This runs the loop
in a daemon thread and lets the rest call into it: `run` waits for a coroutine's result,
`spawn` starts a task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from gymfloor.ingest.errors import StartupError
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.redact import redact

log = logging.getLogger("gymfloor.ingest")

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5.0
UNREACHABLE_LOG_S = 10.0
REQUEST_TIMEOUT_S = 5.0


class NatsLoop:
    def __init__(self, config: NatsConfig, name: str) -> None:
        self.config = config
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="nats", daemon=True)
        self._client: Client | None = None
        self.connected = threading.Event()
        self._closing = False
        self._unreachable_logged = -math.inf

    @property
    def client(self) -> Client:
        assert self._client is not None, "connect() first"
        return self._client

    @property
    def jetstream(self) -> JetStreamContext:
        return self.client.jetstream(timeout=REQUEST_TIMEOUT_S)

    def connect(self, stopping: threading.Event) -> None:
        """Connect to the first server that answers, trying again until one does (or until
        `stopping`); once connected, the client reconnects to any of them by itself."""
        self._thread.start()
        connecting = asyncio.run_coroutine_threadsafe(self._connect(), self.loop)
        while not stopping.is_set():
            try:
                self._client = connecting.result(timeout=0.5)
                return
            except concurrent.futures.TimeoutError:
                continue
        connecting.cancel()
        raise StartupError("stopped before NATS could be reached")

    async def _connect(self) -> Client:
        async def disconnected() -> None:
            self.connected.clear()
            if not self._closing:
                log.warning("disconnected from NATS; reconnecting")

        async def reconnected() -> None:
            self.connected.set()
            log.info("reconnected to NATS at %s", _server(self.client))

        async def error(exc: Exception) -> None:
            if self._client is not None:
                log.warning("NATS: %s", redact(str(exc)))
            elif time.monotonic() - self._unreachable_logged >= UNREACHABLE_LOG_S:
                self._unreachable_logged = time.monotonic()
                servers = redact(", ".join(self.config.servers))
                log.error("cannot reach NATS at %s (%s); trying again", servers, exc)

        client = await nats.connect(
            servers=list(self.config.servers),
            name=self.name,
            user=self.config.user,
            password=self.config.password,
            connect_timeout=CONNECT_TIMEOUT_S,
            # Forever, the first connection included: the cluster may come up after ingest.
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        self.connected.set()
        log.info("connected to NATS at %s", _server(client))
        return client

    def run(
        self, coroutine: Coroutine[Any, Any, T], timeout: float | None = REQUEST_TIMEOUT_S
    ) -> T:
        """The coroutine's result, run on the loop; from any thread but the loop's."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.loop.call_soon_threadsafe(self.loop.create_task, coroutine)

    def close(self) -> None:
        self._closing = True
        if self._client is not None:
            try:
                self.run(self._client.drain(), timeout=10.0)
            except Exception as exc:  # a dead cluster must not stop the shutdown
                log.warning("could not drain the NATS connection: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)


def _server(client: Client) -> str:
    url = client.connected_url  # its netloc would show the password of nats://user:pw@…
    return f"{url.hostname}:{url.port}" if url is not None else "?"
