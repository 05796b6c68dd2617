"""Reading the staff alert feed, acknowledging alerts, and following both as they happen."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select

from gymfloor.contract import Severity
from gymfloor.storage import schema
from gymfloor.storage.models import Acknowledgement, AlertRecord
from gymfloor.storage.pagination import Page, keyset, page

_alerts, _acks = schema.alerts, schema.acknowledgements


@dataclass(frozen=True, slots=True)
class AlertFilter:
    gym_id: str | None = None
    machine_id: str | None = None
    severity: Severity | None = None
    acknowledged: bool | None = None
    since: float | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        c = _alerts.c
        for column, value in ((c.gym_id, self.gym_id), (c.machine_id, self.machine_id)):
            if value is not None:
                query = query.where(column == value)
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
    """How far a follower of the feed has read: the last alert and acknowledgement seen."""

    alert_seq: int
    ack_seq: int


def page_alerts(
    db: Connection, where: AlertFilter, cursor: str | None, limit: int
) -> Page[AlertRecord]:
    """Newest first."""
    query = where.apply(select(_alerts))
    rows = db.execute(keyset(query, (_alerts.c.seq,), cursor, limit)).all()
    return page(rows, limit, lambda r: (r.seq,), _record)


def acknowledge(db: Connection, alert_id: str, by: str, at: float) -> AlertRecord | None:
    """Mark the alert taken. Acknowledging it again changes nothing; None if there is no such
    alert."""
    row = db.execute(select(_alerts).where(_alerts.c.id == alert_id)).first()
    if row is None:
        return None
    if row.acknowledged_at is None:
        db.execute(
            _alerts.update()
            .where(_alerts.c.id == alert_id)
            .values(acknowledged_at=at, acknowledged_by=by)
        )
        db.execute(_acks.insert().values(alert_id=alert_id, at=at, by=by))
        row = db.execute(select(_alerts).where(_alerts.c.id == alert_id)).one()
    return _record(row)


def feed_end(db: Connection) -> FeedPosition:
    """Where the feed stands now: a new follower starts here."""
    alert_seq = db.execute(select(_alerts.c.seq).order_by(_alerts.c.seq.desc()).limit(1))
    ack_seq = db.execute(select(_acks.c.seq).order_by(_acks.c.seq.desc()).limit(1))
    return FeedPosition(alert_seq.scalar() or 0, ack_seq.scalar() or 0)


def feed_after(
    db: Connection, position: FeedPosition, limit: int
) -> tuple[list[tuple[int, AlertRecord]], list[tuple[int, Acknowledgement]]]:
    """Alerts and acknowledgements since `position`, oldest first, each with its number."""
    alerts = db.execute(
        select(_alerts)
        .where(_alerts.c.seq > position.alert_seq)
        .order_by(_alerts.c.seq)
        .limit(limit)
    ).all()
    acks = db.execute(
        select(_acks).where(_acks.c.seq > position.ack_seq).order_by(_acks.c.seq).limit(limit)
    ).all()
    return (
        [(row.seq, _record(row)) for row in alerts],
        [(row.seq, Acknowledgement(alert_id=row.alert_id, at=row.at, by=row.by)) for row in acks],
    )


def _record(row: Any) -> AlertRecord:
    return AlertRecord(
        **json.loads(row.alert),
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )
