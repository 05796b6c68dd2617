"""An MQTT broker inside the process (amqtt), so `gymfloor demo` needs no server installed.

It is for trying gymfloor on one computer: anonymous, in memory, loopback only. Production
runs Mosquitto (docker-compose.yml).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from types import TracebackType

from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig

from gymfloor.ports import LOOPBACK, free_port

log = logging.getLogger("gymfloor.mqtt")
# amqtt narrates every state change at INFO; only its problems belong in gymfloor's log.
for _chatty in ("amqtt", "transitions"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


class EmbeddedBroker:
    def __init__(self, port: int = 0) -> None:
        """Port 0 picks a free one."""
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="embedded-broker", daemon=True)
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def __enter__(self) -> EmbeddedBroker:
        self._thread.start()
        self._ready.wait(10.0)
        if self._failure is not None or self._broker is None:
            raise RuntimeError(f"the embedded broker did not start: {self._failure}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._broker is not None:
            # Deliveries to clients that already left fail at shutdown; that is not news.
            logging.getLogger("amqtt").setLevel(logging.CRITICAL)
            stopped = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                stopped.result(5.0)
            except Exception as exc:  # shutting down anyway; say why it was not clean
                log.warning("embedded broker did not shut down cleanly: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        config = BrokerConfig(
            listeners={"default": ListenerConfig(bind=f"{LOOPBACK}:{self.port}")},
            plugins={"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        )
        try:
            broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(broker.start())
            self._broker = broker
        except BaseException as exc:
            self._failure = exc
            return
        finally:
            self._ready.set()
        self._loop.run_forever()
