"""One session's report for the member: the reps, what went wrong, how it compares with the
sessions before, and what to work on. Pure: the router fetches, this composes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from gymfloor.coaching import KEY_CUES, SEE_A_PROFESSIONAL, liftoff_streak, session_advice
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
        description="this session and those just before it that all showed lumbar lift-off "
        "(sessions without reps left out)"
    )
    verdict: Literal["first session", "better", "steady", "worse"]


class SessionReport(BaseModel):
    session: SessionSummary
    reps: list[RepReport] = Field(
        description="oldest first, each as docs/CONTRACT.md section 4 defines it"
    )
    trend: Trend
    coaching: list[str] = Field(
        description="advice, what matters most first (docs/API.md); empty after clean reps"
    )
    key_cues: int = Field(
        description="how many of the first pieces of advice matter most, the advice to see a "
        "professional aside; the rest can wait"
    )
    see_a_professional: bool = Field(
        description="lift-off keeps coming back: have a physiotherapist or physician look"
    )


def session_report(
    session: SessionSummary, reps: Sequence[RepReport], earlier: Sequence[SessionSummary]
) -> SessionReport:
    trend = _trend(session, earlier)
    coaching = session_advice(reps, trend.liftoff_sessions_in_a_row)
    professional = SEE_A_PROFESSIONAL in coaching
    return SessionReport(
        session=session,
        reps=list(reps),
        trend=trend,
        coaching=coaching,
        key_cues=min(KEY_CUES, len(coaching) - professional),
        see_a_professional=professional,
    )


def _trend(session: SessionSummary, earlier: Sequence[SessionSummary]) -> Trend:
    streak = liftoff_streak((s.reps, s.faults[Fault.LUMBAR_LIFTOFF]) for s in [session, *earlier])
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
