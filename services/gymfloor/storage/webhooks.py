"""Alert webhooks: the HTTP receivers each gym has for its staff alerts, administered with
`gymfloor webhooks` on the store directly (docs/WEBHOOKS.md).

A webhook's secret signs every delivery (HMAC-SHA256), so the store keeps it as it is: a hash
could not sign. It is shown once, when made or renewed, and never listed.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from typing import Any

from sqlalchemy import Connection, func, select

from gymfloor.contract import Severity
from gymfloor.storage import schema
from gymfloor.storage.models import Webhook
from gymfloor.storage.outbox import DeliveryState
from gymfloor.storage.pagination import Page, keyset, page

_webhooks, _deliveries = schema.webhooks, schema.webhook_deliveries

SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"


class InvalidWebhookUrl(ValueError):
    """A URL gymfloor will not send alerts to; the message says why."""


def checked_url(url: str) -> str:
    """`url`, if alerts may go there: http or https, a host, no credentials (the signature is
    how a receiver knows the sender). Private addresses are allowed: receivers often live on the
    gym's own network, and only an operator with the store can add a webhook."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError as exc:
        raise InvalidWebhookUrl(f"not a URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise InvalidWebhookUrl("not http:// or https://")
    if not parts.hostname:
        raise InvalidWebhookUrl("no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("credentials in the URL; receivers check the signature instead")
    if parts.fragment:
        raise InvalidWebhookUrl("a #fragment, which is never sent")
    return url


def add_webhook(
    db: Connection, gym_id: str, url: str, min_severity: Severity | None
) -> tuple[str, str]:
    """A new webhook for the gym's alerts: its id and its signing secret."""
    webhook_id, secret = secrets.token_hex(8), _new_secret()
    db.execute(
        _webhooks.insert().values(
            id=webhook_id,
            gym_id=gym_id,
            url=checked_url(url),
            secret=secret,
            min_severity=min_severity.value if min_severity else None,
            created_at=time.time(),
        )
    )
    return webhook_id, secret


def renew_secret(db: Connection, webhook_id: str) -> str | None:
    """A new signing secret for the webhook, used from its next delivery; None if no such
    webhook."""
    secret = _new_secret()
    updated = db.execute(
        _webhooks.update().where(_webhooks.c.id == webhook_id).values(secret=secret)
    )
    return secret if updated.rowcount > 0 else None


def webhook_exists(db: Connection, webhook_id: str) -> bool:
    found = db.execute(select(_webhooks.c.id).where(_webhooks.c.id == webhook_id)).first()
    return found is not None


def remove_webhook(db: Connection, webhook_id: str) -> bool:
    """Remove the webhook and what it still had to send; False if there is no such webhook."""
    db.execute(_deliveries.delete().where(_deliveries.c.webhook_id == webhook_id))
    deleted = db.execute(_webhooks.delete().where(_webhooks.c.id == webhook_id))
    return deleted.rowcount > 0


def page_webhooks(db: Connection, cursor: str | None, limit: int) -> Page[Webhook]:
    """By gym, then id; without secrets, with what each has waiting and dead-lettered."""
    order = (_webhooks.c.gym_id, _webhooks.c.id)
    query = select(
        _webhooks.c.id,
        _webhooks.c.gym_id,
        _webhooks.c.url,
        _webhooks.c.min_severity,
        _webhooks.c.created_at,
        _count_in_state(DeliveryState.PENDING).label("pending"),
        _count_in_state(DeliveryState.DEAD).label("dead_letters"),
    )
    rows = db.execute(keyset(query, order, cursor, limit, descending=False)).all()
    return page(rows, limit, lambda r: (r.gym_id, r.id), _record)


def _count_in_state(state: DeliveryState) -> Any:
    return (
        select(func.count())
        .where(_deliveries.c.webhook_id == _webhooks.c.id, _deliveries.c.state == state)
        .scalar_subquery()
    )


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


def _record(row: Any) -> Webhook:
    return Webhook.model_validate(row._mapping, from_attributes=False)
