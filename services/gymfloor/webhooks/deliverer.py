"""The deliverer: claims due deliveries from the store's outbox under a lease, sends each to its
webhook, and records the outcome: sent, retried after a back-off, or dead-lettered.

Any number run at once (every API process runs one), each claim its own: the lease keeps a
delivery to one deliverer at a time, and a deliverer that dies mid-send leaves its claim to run
out, after which another sends it again (at least once, not exactly once: receivers deduplicate
by the delivery id).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from gymfloor.storage import OperationalStore
from gymfloor.storage.outbox import (
    Delivery,
    claim,
    delivered,
    failed,
    forget_delivered,
    stored_alert,
)
from gymfloor.webhooks import message
from gymfloor.webhooks.backoff import retry_delay
from gymfloor.webhooks.config import WebhookConfig

log = logging.getLogger("gymfloor.webhooks")

FORGET_INTERVAL_S = 3600.0
"""How often the deliveries that went out long ago are deleted."""


class Deliverer:
    def __init__(self, store: OperationalStore, config: WebhookConfig) -> None:
        self.store = store
        self.config = config
        # Redirects are not followed: a receiver names its URL once, when it is added.
        self._client = httpx.Client(timeout=config.timeout_s, follow_redirects=False)
        self._senders = ThreadPoolExecutor(config.batch, thread_name_prefix="webhook-send")
        self._rng = random.Random()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._forgotten_at = time.monotonic() - FORGET_INTERVAL_S

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in flight and stop."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._senders.shutdown()
        self._client.close()

    def deliver_due(self) -> int:
        """Claim what is due and send it, the batch at once: a receiver that hangs holds up the
        others of its batch for one timeout, not one timeout each. No batch holds two events of
        one alert to one webhook (`claim`), so this keeps their order. How many were claimed."""
        batch = claim(self.store.engine, time.time(), self.config.lease_s, self.config.batch)
        list(self._senders.map(self._attempt, batch))
        return len(batch)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self.deliver_due()
                self._forget_old()
            except SQLAlchemyError as exc:
                log.error("webhooks: cannot read or write the outbox (%s); trying again", exc)
                claimed = 0
            except Exception:
                # A fault of ours must not end delivery for the life of the process.
                log.exception("webhooks: unexpected error in the deliverer; going on")
                claimed = 0
            if claimed < self.config.batch:
                self._stopping.wait(self.config.poll_s)

    def _attempt(self, delivery: Delivery) -> None:
        with self.store.read() as db:
            alert = stored_alert(db, delivery.alert_id)
        error = "the alert is not in the store" if alert is None else None
        if alert is not None:
            content = message.body(delivery, alert)
            error = self._send(delivery, content)
        with self.store.transaction() as db:
            if error is None:
                recorded = delivered(db, delivery, time.time())
            else:
                recorded = self._failed(db, delivery, error)
        if not recorded:
            log.warning(
                "webhook %s: delivery %s outlasted its lease; another deliverer may send it too",
                delivery.webhook_id,
                delivery.id,
            )

    def _send(self, delivery: Delivery, content: bytes) -> str | None:
        """None if the receiver took it (2xx); else why not."""
        headers = message.headers(delivery, content, time.time())
        try:
            response = self._client.post(delivery.url, content=content, headers=headers)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return None
        # Every other status is retried, 4xx too: docs/WEBHOOKS.md says why.
        return f"HTTP {response.status_code}"

    def _failed(self, db: Connection, delivery: Delivery, error: str) -> bool:
        attempts = delivery.attempts + 1
        now = time.time()
        context = (delivery.webhook_id, delivery.id, delivery.event.value, delivery.alert_id)
        if attempts >= self.config.max_attempts:
            log.error(
                "webhook %s: delivery %s (%s of alert %s) dead-lettered after %d attempts: %s",
                *context,
                attempts,
                error,
            )
            return failed(db, delivery, error, now, retry_at=None)
        delay = retry_delay(attempts, self.config.backoff_s, self.config.max_backoff_s, self._rng)
        log.warning(
            "webhook %s: delivery %s (%s of alert %s) failed, attempt %d of %d: %s; next in %.1f s",
            *context,
            attempts,
            self.config.max_attempts,
            error,
            delay,
        )
        return failed(db, delivery, error, now, retry_at=now + delay)

    def _forget_old(self) -> None:
        if time.monotonic() - self._forgotten_at < FORGET_INTERVAL_S:
            return
        self._forgotten_at = time.monotonic()
        with self.store.transaction() as db:
            forget_delivered(db, time.time() - self.config.keep_delivered_s)
