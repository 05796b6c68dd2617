"""One session's report for the member: the reps, what went wrong, how it compares with the
sessions before, and what to work on. Pure: the router fetches, this composes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from gymfloor.coaching import SEE_A_PROFESSIONAL, session_advice
from gymfloor.contract import Fault, RepReport
from gymfloor.storage.models import SHARE_DIGITS, SessionSummary

EARLIER_SESSIONS = 5
"""How many earlier sessions the trend compares against."""
STEADY_BAND = 0.1
"""A change in the share of faulty reps smaller than this is no change."""


class Trend(BaseModel):
    earlier_sessions: list[SessionSummary] = Field(description="newest first")
    faulty_share: float = Field(description="share of this session's reps with a fault")
    earlier_faulty_share: float | None = Field(
        description="the same share over the earlier sessions' reps; null without any"
    )
    liftoff_sessions_in_a_row: int = Field(
        description="this session and those just before it that all showed lumbar lift-off"
    )
    verdict: Literal["first session", "better", "steady", "worse"]


class SessionReport(BaseModel):
    session: SessionSummary
    reps: list[RepReport] = Field(
        description="oldest first, each as docs/CONTRACT.md section 4 defines it"
    )
    trend: Trend
    coaching: list[str] = Field(description="advice, most specific first; empty after clean reps")
    see_a_professional: bool = Field(
        description="lift-off keeps coming back: have a physiotherapist or physician look"
    )


def session_report(
    session: SessionSummary, reps: Sequence[RepReport], earlier: Sequence[SessionSummary]
) -> SessionReport:
    trend = _trend(session, earlier)
    coaching = session_advice(reps, trend.liftoff_sessions_in_a_row)
    return SessionReport(
        session=session,
        reps=list(reps),
        trend=trend,
        coaching=coaching,
        see_a_professional=SEE_A_PROFESSIONAL in coaching,
    )


def _trend(session: SessionSummary, earlier: Sequence[SessionSummary]) -> Trend:
    streak = 0
    for summary in [session, *earlier]:
        if not summary.faults[Fault.LUMBAR_LIFTOFF]:
            break
        streak += 1
    share = _faulty_share([session])
    earlier_share = _faulty_share(earlier)
    verdict: Literal["first session", "better", "steady", "worse"]
    if earlier_share is None or share is None:
        verdict = "first session"
    elif share < earlier_share - STEADY_BAND:
        verdict = "better"
    elif share > earlier_share + STEADY_BAND:
        verdict = "worse"
    else:
        verdict = "steady"
    return Trend(
        earlier_sessions=list(earlier),
        faulty_share=share or 0.0,
        earlier_faulty_share=earlier_share,
        liftoff_sessions_in_a_row=streak,
        verdict=verdict,
    )


def _faulty_share(sessions: Sequence[SessionSummary]) -> float | None:
    reps = sum(s.reps for s in sessions)
    return round(sum(s.faulty_reps for s in sessions) / reps, SHARE_DIGITS) if reps else None
