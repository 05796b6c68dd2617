"""The outbox of webhook deliveries: written with the alert (or its acknowledgement) it tells
of, in the same transaction, then claimed under a lease and sent by any number of deliverers
(`gymfloor.webhooks.deliverer`); docs/WEBHOOKS.md.

A delivery names its alert, not a copy of it: the payload is built from the stored alert when
it is sent, so a retry after an acknowledgement carries it, and any alert kind goes out as it
was stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, or_, select

from gymfloor.contract import Severity
from gymfloor.storage import schema

_deliveries, _webhooks, _alerts = schema.webhook_deliveries, schema.webhooks, schema.alerts

ERROR_CHARS = 200
"""What a delivery keeps of its last failure's reason (the column's width)."""


class WebhookEvent(StrEnum):
    RAISED = "alert.raised"
    ACKNOWLEDGED = "alert.acknowledged"
    CLEARED = "alert.cleared"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What the outbox needs of an alert to choose its webhooks."""

    alert_id: str
    gym_id: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery, with where it goes."""

    seq: int
    id: str
    webhook_id: str
    alert_id: str
    event: WebhookEvent
    attempts: int
    """Attempts made before this one."""
    url: str
    secret: str
    claim: str
    """The claim's own id: only its holder may record the outcome."""


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as the store holds it now: as published, its acknowledgement, and when it
    stopped applying (a machine_offline alert's machine back)."""

    alert: dict[str, Any]
    acknowledged_at: float | None
    acknowledged_by: str | None
    cleared_at: float | None


def severity_reaches(severity: Severity, minimum: Severity | None) -> bool:
    """Whether an alert of `severity` passes a webhook's minimum. Severity lists its members
    from the least to the most urgent."""
    order = list(Severity)
    return minimum is None or order.index(severity) >= order.index(minimum)


def enqueue(db: Connection, event: WebhookEvent, alerts: Sequence[AlertEvent], at: float) -> int:
    """A delivery of `event` for each alert to each webhook of its gym that takes its severity,
    in the caller's transaction; how many."""
    if not alerts:
        return 0
    gyms = {alert.gym_id for alert in alerts}
    hooks = db.execute(
        select(_webhooks.c.id, _webhooks.c.gym_id, _webhooks.c.min_severity).where(
            _webhooks.c.gym_id.in_(gyms)
        )
    ).all()
    rows = [
        _pending(hook.id, alert.alert_id, event, at)
        for alert in alerts
        for hook in hooks
        if hook.gym_id == alert.gym_id
        and severity_reaches(alert.severity, _severity(hook.min_severity))
    ]
    if rows:
        db.execute(_deliveries.insert(), rows)
    return len(rows)


def claim(engine: Engine, now: float, lease_s: float, limit: int) -> list[Delivery]:
    """Take up to `limit` due deliveries, oldest first, for `lease_s` seconds: no other claim
    takes them meanwhile. A delivery waits while an earlier one of its alert to its webhook is
    pending, so each receiver hears of an alert's events in order."""
    owner = uuid.uuid4().hex
    earlier = _deliveries.alias("earlier")
    free = or_(_deliveries.c.lease_until.is_(None), _deliveries.c.lease_until < now)
    due = (
        select(_deliveries.c.seq)
        .where(
            _deliveries.c.state == DeliveryState.PENDING,
            _deliveries.c.next_attempt_at <= now,
            free,
            ~exists().where(
                earlier.c.webhook_id == _deliveries.c.webhook_id,
                earlier.c.alert_id == _deliveries.c.alert_id,
                earlier.c.state == DeliveryState.PENDING,
                earlier.c.seq < _deliveries.c.seq,
            ),
        )
        .order_by(_deliveries.c.seq)
        .limit(limit)
        # PostgreSQL: concurrent claims pass over each other's rows instead of waiting for them;
        # SQLite has one writer at a time anyway (and SQLAlchemy leaves the clause out there).
        .with_for_update(skip_locked=True)
    )
    with engine.begin() as db:
        # The lease's own conditions again on the row updated: a claim that lost the race for
        # a row (PostgreSQL re-reads it once the winner commits) leaves it alone.
        db.execute(
            _deliveries.update()
            .where(_deliveries.c.seq.in_(due.scalar_subquery()))
            .where(_deliveries.c.state == DeliveryState.PENDING, free)
            .values(lease_owner=owner, lease_until=now + lease_s)
        )
        rows = db.execute(
            select(_deliveries, _webhooks.c.url, _webhooks.c.secret)
            .join(_webhooks, _webhooks.c.id == _deliveries.c.webhook_id)
            .where(_deliveries.c.lease_owner == owner)
            .order_by(_deliveries.c.seq)
        ).all()
    return [
        Delivery(
            seq=r.seq,
            id=r.id,
            webhook_id=r.webhook_id,
            alert_id=r.alert_id,
            event=WebhookEvent(r.event),
            attempts=r.attempts,
            url=r.url,
            secret=r.secret,
            claim=owner,
        )
        for r in rows
    ]


def stored_alert(db: Connection, alert_id: str) -> StoredAlert | None:
    columns = (_alerts.c.alert, _alerts.c.acknowledged_at, _alerts.c.acknowledged_by)
    row = db.execute(select(*columns, _alerts.c.cleared_at).where(_alerts.c.id == alert_id)).first()
    if row is None:
        return None
    return StoredAlert(
        json.loads(row.alert), row.acknowledged_at, row.acknowledged_by, row.cleared_at
    )


def delivered(db: Connection, delivery: Delivery, at: float) -> bool:
    """Record the delivery sent; False if its lease had run out and another claim holds it."""
    return _finish(db, delivery, state=DeliveryState.DELIVERED, finished_at=at, last_error=None)


def failed(
    db: Connection, delivery: Delivery, error: str, at: float, retry_at: float | None
) -> bool:
    """Record an attempt that failed at `at`: tried again from `retry_at`, or dead-lettered if
    None. False if the lease had run out and another claim holds it."""
    if retry_at is None:
        return _finish(
            db, delivery, state=DeliveryState.DEAD, finished_at=at, last_error=error[:ERROR_CHARS]
        )
    return _finish(db, delivery, next_attempt_at=retry_at, last_error=error[:ERROR_CHARS])


def retry_dead(db: Connection, webhook_id: str, at: float) -> int:
    """Make the webhook's dead letters pending again, from their first attempt; how many."""
    revived = db.execute(
        _deliveries.update()
        .where(_deliveries.c.webhook_id == webhook_id, _deliveries.c.state == DeliveryState.DEAD)
        .values(state=DeliveryState.PENDING, attempts=0, next_attempt_at=at, finished_at=None)
    )
    return revived.rowcount


def forget_delivered(db: Connection, before: float) -> int:
    """Delete deliveries sent before `before`; how many. Pending and dead ones stay."""
    deleted = db.execute(
        _deliveries.delete().where(
            _deliveries.c.state == DeliveryState.DELIVERED, _deliveries.c.finished_at < before
        )
    )
    return deleted.rowcount


def counts_by_webhook(db: Connection) -> dict[tuple[str, str], dict[DeliveryState, int]]:
    """(gym, webhook) → deliveries in each state, for /metrics; every webhook appears."""
    rows = db.execute(
        select(_webhooks.c.gym_id, _webhooks.c.id, _deliveries.c.state, func.count())
        .outerjoin(_deliveries, _deliveries.c.webhook_id == _webhooks.c.id)
        .group_by(_webhooks.c.gym_id, _webhooks.c.id, _deliveries.c.state)
    ).all()
    counts: dict[tuple[str, str], dict[DeliveryState, int]] = {}
    for gym_id, webhook_id, state, count in rows:
        by_state = counts.setdefault((gym_id, webhook_id), dict.fromkeys(DeliveryState, 0))
        if state is not None:
            by_state[DeliveryState(state)] = count
    return counts


def _finish(db: Connection, delivery: Delivery, **values: Any) -> bool:
    """Record an attempt on the claimed row, ending its lease, if the claim still holds it."""
    updated = db.execute(
        _deliveries.update()
        .where(_deliveries.c.seq == delivery.seq, _deliveries.c.lease_owner == delivery.claim)
        .values(
            attempts=_deliveries.c.attempts + 1,
            lease_owner=None,
            lease_until=None,
            **values,
        )
    )
    return updated.rowcount > 0


def _pending(webhook_id: str, alert_id: str, event: WebhookEvent, at: float) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "webhook_id": webhook_id,
        "alert_id": alert_id,
        "event": event.value,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "created_at": at,
        "next_attempt_at": at,
    }


def _severity(value: str | None) -> Severity | None:
    return None if value is None else Severity(value)
