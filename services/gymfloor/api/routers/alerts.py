"""The staff alert feed of the gyms a token sees: the list, acknowledging, and a live stream over
Server-Sent Events."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gymfloor.api.config import ApiConfig
from gymfloor.api.deps import (
    Cursor,
    Limit,
    OptionalId,
    ReadDb,
    Since,
    StaffGyms,
    StaffToken,
    WriteDb,
    get_config,
    get_store,
)
from gymfloor.contract import Severity
from gymfloor.storage import OperationalStore
from gymfloor.storage.alerts import (
    AlertFilter,
    FeedBatch,
    FeedPosition,
    acknowledge,
    feed_after,
    feed_end,
    page_alerts,
)
from gymfloor.storage.models import AlertRecord, GymScope
from gymfloor.storage.pagination import Page

router = APIRouter(prefix="/v1/alerts", tags=["staff"])

# Alert, acknowledgement and clearance numbers; an id sent before clearances existed has two.
EVENT_ID = re.compile(r"(\d{1,18})\.(\d{1,18})(?:\.(\d{1,18}))?")
RECONNECT_MS = 2000
BATCH = 200


@router.get("", response_model=Page[AlertRecord])
def alerts(
    gyms: StaffGyms,
    db: ReadDb,
    cursor: Cursor = None,
    limit: Limit = 50,
    machine_id: OptionalId = None,
    severity: Severity | None = None,
    acknowledged: Annotated[
        bool | None, Query(description="true: only taken ones; false: only open ones")
    ] = None,
    since: Since = None,
) -> Page[AlertRecord]:
    """Alerts, newest first."""
    where = AlertFilter(gyms, machine_id, severity, acknowledged, since)
    return page_alerts(db, where, cursor, limit)


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertRecord,
    responses={404: {"description": "no such alert among those of the token's gyms"}},
)
def acknowledge_alert(
    token: StaffToken, db: WriteDb, alert_id: Annotated[str, Path(max_length=64)]
) -> AlertRecord:
    """Someone is on it. Acknowledging again keeps the first acknowledgement."""
    record = acknowledge(db, alert_id, token.id, time.time(), token.gyms)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return record


def _resume_after(
    last_event_id: Annotated[
        str | None,
        Header(description="the id of the last event received; the stream resumes after it"),
    ] = None,
) -> FeedPosition | None:
    # A dependency, so that a bad id is refused before the stream starts.
    if last_event_id is None:
        return None
    match = EVENT_ID.fullmatch(last_event_id)
    if match is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Last-Event-ID must be an event id this stream sent, such as 12.3.1",
        )
    return FeedPosition(int(match[1]), int(match[2]), int(match[3] or 0))


@router.get("/stream", response_class=EventSourceResponse)
async def stream(
    gyms: StaffGyms,
    store: Annotated[OperationalStore, Depends(get_store)],
    config: Annotated[ApiConfig, Depends(get_config)],
    resume: Annotated[FeedPosition | None, Depends(_resume_after)],
) -> AsyncIterator[ServerSentEvent]:
    """New alerts (event `alert`), acknowledgements (event `acknowledged`) and clearances (event
    `cleared`: a `machine_offline` alert's machine is back) as they happen.

    Each event's id is a position in the feed: a client that reconnects with it in
    `Last-Event-ID`, as browsers do on their own, misses nothing."""
    position = resume if resume is not None else await run_in_threadpool(_end, store)
    yield ServerSentEvent(comment="connected", retry=RECONNECT_MS)
    while True:
        batch = await run_in_threadpool(_after, store, position, gyms)
        for seq, alert in batch.alerts:
            at = FeedPosition(seq, position.ack_seq, position.clear_seq)
            yield ServerSentEvent(data=alert, event="alert", id=_event_id(at))
        for seq, ack in batch.acknowledgements:
            at = FeedPosition(batch.end.alert_seq, seq, position.clear_seq)
            yield ServerSentEvent(data=ack, event="acknowledged", id=_event_id(at))
        for seq, clearance in batch.clearances:
            at = FeedPosition(batch.end.alert_seq, batch.end.ack_seq, seq)
            yield ServerSentEvent(data=clearance, event="cleared", id=_event_id(at))
        position = batch.end
        if not batch.full:
            await asyncio.sleep(config.stream_poll_s)


def _event_id(position: FeedPosition) -> str:
    return f"{position.alert_seq}.{position.ack_seq}.{position.clear_seq}"


def _end(store: OperationalStore) -> FeedPosition:
    with store.read() as db:
        return feed_end(db)


def _after(store: OperationalStore, position: FeedPosition, gyms: GymScope) -> FeedBatch:
    with store.read() as db:
        return feed_after(db, position, BATCH, gyms)
