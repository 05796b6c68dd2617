"""A member's own data: their reps, their sessions and each session's report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from itertools import chain
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse

from gymfloor.api.deps import (
    Cursor,
    Limit,
    MemberToken,
    OptionalId,
    PathId,
    ReadDb,
    Since,
    Until,
    get_store,
)
from gymfloor.api.member_trend import DEFAULT_SESSIONS, MAX_SESSIONS, MemberTrend, member_trend
from gymfloor.api.pages import stored_json_page
from gymfloor.api.session_report import EARLIER_SESSIONS, SessionReport, session_report
from gymfloor.contract import Fault, RepReport
from gymfloor.storage import OperationalStore
from gymfloor.storage.members import get_member
from gymfloor.storage.models import Member, SessionSummary
from gymfloor.storage.pagination import Page
from gymfloor.storage.reps import RepFilter, all_reps, page_reps, stored_report_chunks
from gymfloor.storage.sessions import page_sessions, recent_session_figures, session_history

router = APIRouter(prefix="/v1/me", tags=["member"])

CSV_COLUMNS = list(RepReport.model_fields)  # the report's own fields, in its order


@router.get("", response_model=Member)
def me(token: MemberToken, db: ReadDb) -> Member:
    """The member the token belongs to."""
    assert token.member_id is not None
    member = get_member(db, token.member_id)
    if member is None:  # the member was never registered, only their token was issued
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such member")
    return member


@router.get("/reps", response_model=Page[RepReport])
def my_reps(
    token: MemberToken,
    db: ReadDb,
    cursor: Cursor = None,
    limit: Limit = 50,
    session_id: OptionalId = None,
    since: Since = None,
    until: Until = None,
    fault: Fault | None = None,
) -> Response:
    """The member's reps, newest first."""
    where = RepFilter(
        member_id=token.member_id, session_id=session_id, since=since, until=until, fault=fault
    )
    return stored_json_page(page_reps(db, where, cursor, limit))


@router.get(
    "/reps.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per rep"}},
)
def my_reps_csv(
    token: MemberToken,
    store: Annotated[OperationalStore, Depends(get_store)],
    session_id: OptionalId = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """Every rep of the member (or of one session, or a time range), oldest first, as CSV."""
    where = RepFilter(member_id=token.member_id, session_id=session_id, since=since, until=until)
    chunks = stored_report_chunks(store.read, where)
    # The first chunk before the answer starts, so that a store that cannot be read is a 503.
    first = next(chunks)
    return StreamingResponse(
        _csv(chain([first], chunks)),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="reps.csv"'},
    )


@router.get("/sessions", response_model=Page[SessionSummary])
def my_sessions(
    token: MemberToken, db: ReadDb, cursor: Cursor = None, limit: Limit = 20
) -> Page[SessionSummary]:
    """The member's sessions, newest first, each with its totals."""
    assert token.member_id is not None
    return page_sessions(db, token.member_id, cursor, limit)


@router.get(
    "/sessions/{session_id}",
    response_model=SessionReport,
    responses={404: {"description": "no such session among the member's own"}},
)
def my_session(token: MemberToken, db: ReadDb, session_id: PathId) -> SessionReport:
    """One session: its reps, faults and metrics, the trend against earlier sessions, and
    coaching."""
    assert token.member_id is not None
    history = session_history(db, token.member_id, session_id, EARLIER_SESSIONS)
    if not history:  # someone else's session is not found either: ids reveal nothing
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    session, *earlier = history
    where = RepFilter(
        gym_id=session.gym_id,
        machine_id=session.machine_id,
        member_id=token.member_id,
        session_id=session_id,
    )
    reps = list(all_reps(db, where))
    return session_report(session, reps, earlier)


@router.get("/trend", response_model=MemberTrend)
def my_trend(
    token: MemberToken,
    db: ReadDb,
    sessions: Annotated[
        int, Query(ge=1, le=MAX_SESSIONS, description="how many recent sessions, with reps")
    ] = DEFAULT_SESSIONS,
) -> MemberTrend:
    """The member's recent sessions in figures (depth, descent time, share of reps with each
    fault), oldest first, what changed across them in one sentence, and whether lift-off that
    persists calls for a professional."""
    assert token.member_id is not None
    # The lift-off streak looks at least as far back as a session's report does, however few
    # sessions the chart shows.
    wanted = max(sessions, 1 + EARLIER_SESSIONS)
    return member_trend(recent_session_figures(db, token.member_id, wanted), sessions)


def _csv(chunks: Iterator[list[str]]) -> Iterator[str]:
    """The CSV text of each chunk of stored reports. They were validated as they were stored,
    so each is only parsed, not validated again."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for chunk in chunks:
        for stored in chunk:
            row = json.loads(stored)
            row["faults"] = " ".join(row["faults"])
            writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
