"""Reading the staff alert feed, acknowledging alerts, and following both as they happen."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, select

from gymfloor.contract import Severity
from gymfloor.storage import schema
from gymfloor.storage.models import Acknowledgement, AlertRecord, Clearance, GymScope
from gymfloor.storage.outbox import AlertEvent, WebhookEvent, enqueue
from gymfloor.storage.pagination import Page, keyset, page
from gymfloor.storage.scope import sees, within

_alerts, _acks, _clears = schema.alerts, schema.acknowledgements, schema.clearances


@dataclass(frozen=True, slots=True)
class AlertFilter:
    gyms: GymScope = None
    machine_id: str | None = None
    severity: Severity | None = None
    acknowledged: bool | None = None
    since: float | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        c = _alerts.c
        query = within(query, c.gym_id, self.gyms)
        if self.machine_id is not None:
            query = query.where(c.machine_id == self.machine_id)
        if self.severity is not None:
            query = query.where(c.severity == self.severity.value)
        if self.acknowledged is not None:
            acknowledged = c.acknowledged_at.is_not(None)
            query = query.where(acknowledged if self.acknowledged else ~acknowledged)
        if self.since is not None:
            query = query.where(c.t >= self.since)
        return query


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """How far a follower of the feed has read: the last alert, acknowledgement and clearance
    seen."""

    alert_seq: int
    ack_seq: int
    clear_seq: int


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """What a follower of the feed reads next: alerts, acknowledgements and clearances, oldest
    first, each with its number, of the gyms it sees; and how far it read, counting those of
    other gyms."""

    alerts: list[tuple[int, AlertRecord]]
    acknowledgements: list[tuple[int, Acknowledgement]]
    clearances: list[tuple[int, Clearance]]
    end: FeedPosition
    full: bool
    """The batch's limit was reached: more may be waiting."""


def page_alerts(
    db: Connection, where: AlertFilter, cursor: str | None, limit: int
) -> Page[AlertRecord]:
    """Newest first."""
    query = where.apply(select(_alerts))
    rows = db.execute(keyset(query, (_alerts.c.seq,), cursor, limit)).all()
    return page(rows, limit, lambda r: (r.seq,), _record)


def acknowledge(
    db: Connection, alert_id: str, by: str, at: float, gyms: GymScope = None
) -> AlertRecord | None:
    """Mark the alert taken, and tell its gym's webhooks. Acknowledging it again changes
    nothing; None if there is no such alert among those of `gyms`."""
    found = within(select(_alerts), _alerts.c.gym_id, gyms).where(_alerts.c.id == alert_id)
    row = db.execute(found).first()
    if row is None:
        return None
    if row.acknowledged_at is None:
        db.execute(
            _alerts.update()
            .where(_alerts.c.id == alert_id)
            .values(acknowledged_at=at, acknowledged_by=by)
        )
        db.execute(_acks.insert().values(alert_id=alert_id, at=at, by=by))
        taken = AlertEvent(row.id, row.gym_id, Severity(row.severity))
        enqueue(db, WebhookEvent.ACKNOWLEDGED, [taken], at)
        row = db.execute(select(_alerts).where(_alerts.c.id == alert_id)).one()
    return _record(row)


def feed_end(db: Connection) -> FeedPosition:
    """Where the feed stands now: a new follower starts here."""
    alert_seq = db.execute(select(_alerts.c.seq).order_by(_alerts.c.seq.desc()).limit(1))
    ack_seq = db.execute(select(_acks.c.seq).order_by(_acks.c.seq.desc()).limit(1))
    clear_seq = db.execute(select(_clears.c.seq).order_by(_clears.c.seq.desc()).limit(1))
    return FeedPosition(alert_seq.scalar() or 0, ack_seq.scalar() or 0, clear_seq.scalar() or 0)


def feed_after(
    db: Connection, position: FeedPosition, limit: int, gyms: GymScope = None
) -> FeedBatch:
    """Alerts, acknowledgements and clearances since `position`, up to `limit` of each, kept to
    `gyms`."""
    alerts = db.execute(
        select(_alerts)
        .where(_alerts.c.seq > position.alert_seq)
        .order_by(_alerts.c.seq)
        .limit(limit)
    ).all()
    # An acknowledgement belongs to its alert's gym. The rows of other gyms are read and passed
    # over here rather than left out in SQL, so that the position moves past them: a follower of
    # a quiet gym would otherwise scan a busy gym's rows again at every poll.
    acks = _events_after(db, _acks, position.ack_seq, limit)
    clears = _events_after(db, _clears, position.clear_seq, limit)
    return FeedBatch(
        alerts=[(row.seq, _record(row)) for row in alerts if sees(gyms, row.gym_id)],
        acknowledgements=[
            (row.seq, Acknowledgement(alert_id=row.alert_id, at=row.at, by=row.by))
            for row in acks
            if sees(gyms, row.gym_id)
        ],
        clearances=[
            (row.seq, Clearance(alert_id=row.alert_id, at=row.at))
            for row in clears
            if sees(gyms, row.gym_id)
        ],
        end=FeedPosition(
            alerts[-1].seq if alerts else position.alert_seq,
            acks[-1].seq if acks else position.ack_seq,
            clears[-1].seq if clears else position.clear_seq,
        ),
        full=limit in (len(alerts), len(acks), len(clears)),
    )


def _events_after(db: Connection, events: Table, seq: int, limit: int) -> Sequence[Row[Any]]:
    """An event table's rows (acknowledgements, clearances) after `seq`, each with its alert's
    gym."""
    return db.execute(
        select(events, _alerts.c.gym_id)
        .outerjoin(_alerts, _alerts.c.id == events.c.alert_id)
        .where(events.c.seq > seq)
        .order_by(events.c.seq)
        .limit(limit)
    ).all()


def _record(row: Any) -> AlertRecord:
    return AlertRecord(
        **{**json.loads(row.alert), "cleared_at": row.cleared_at},
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )
