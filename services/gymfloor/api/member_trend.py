"""A member's trend across their recent sessions: depth, descent time and the share of reps with
each fault, session by session, what changed, in one sentence, and whether lift-off that
persists calls for a professional. Pure: the router fetches, this composes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from gymfloor.api.session_report import STEADY_BAND
from gymfloor.coaching import (
    DESCENT_TARGET_S,
    SAFETY_ORDER,
    SEE_A_PROFESSIONAL,
    TREND_SENTENCES,
    liftoff_streak,
    needs_a_professional,
)
from gymfloor.contract import Fault
from gymfloor.storage.models import SessionTrendPoint

DEFAULT_SESSIONS = 10
"""How many recent sessions a trend covers unless asked otherwise."""
MAX_SESSIONS = 50
"""The most a trend covers: a chart on a phone shows no more, and the query stays small."""
MIN_SESSIONS = 3
"""Fewer sessions than this tell nothing apart from a session's ups and downs."""
DESCENT_STEADY_S = 0.2
"""A change of the descent time smaller than this, in seconds, is no change."""
DEPTH_STEADY_SHARE = 0.05
"""A change of depth smaller than this share of it is no change."""

Verdict = Literal["better", "steady", "worse"]
DepthChange = Literal["deeper", "steady", "shallower"]


class MemberTrend(BaseModel):
    sessions: list[SessionTrendPoint] = Field(description="oldest first")
    faults: dict[Fault, Verdict] | None = Field(
        description="each fault's share of reps, the newer half of the sessions against the "
        "older half; null with fewer than three sessions"
    )
    descent: Verdict | None = Field(
        description="the descent time, nearer to or further from two to three seconds"
    )
    depth: DepthChange | None
    summary: str = Field(description="one sentence: what matters most in what changed")
    liftoff_sessions_in_a_row: int = Field(
        description="the newest session and those just before it that all showed lift-off"
    )
    see_a_professional: bool = Field(
        description="the session report's rule, applied to the newest session with its streak"
    )
    advice: str | None = Field(description="the advice to see a professional, when it applies")


def member_trend(recent: Sequence[SessionTrendPoint], shown: int) -> MemberTrend:
    """The trend over the newest `shown` of `recent` (newest first); any sessions beyond them
    only count towards the lift-off streak."""
    streak = liftoff_streak((p.reps, p.faults[Fault.LUMBAR_LIFTOFF]) for p in recent)
    newest = recent[0] if recent else None
    professional = newest is not None and needs_a_professional(
        newest.faults[Fault.LUMBAR_LIFTOFF], newest.reps, streak
    )
    sessions = list(reversed(recent[:shown]))
    faults: dict[Fault, Verdict] | None = None
    descent: Verdict | None = None
    depth: DepthChange | None = None
    if len(sessions) >= MIN_SESSIONS:
        older, newer = sessions[: len(sessions) // 2], sessions[-(len(sessions) // 2) :]
        faults = {fault: _fault_verdict(older, newer, fault) for fault in Fault}
        descent = _descent_verdict(
            _mean(older, lambda p: p.mean_eccentric_s), _mean(newer, lambda p: p.mean_eccentric_s)
        )
        depth = _depth_change(
            _mean(older, lambda p: p.mean_rom_mm), _mean(newer, lambda p: p.mean_rom_mm)
        )
    return MemberTrend(
        sessions=sessions,
        faults=faults,
        descent=descent,
        depth=depth,
        summary=trend_sentence(faults, descent, depth),
        liftoff_sessions_in_a_row=streak,
        see_a_professional=professional,
        advice=SEE_A_PROFESSIONAL if professional else None,
    )


def trend_sentence(
    faults: dict[Fault, Verdict] | None, descent: Verdict | None, depth: DepthChange | None
) -> str:
    """What matters most, safety first: a fault getting worse (in SAFETY_ORDER), then slower
    or faster descents getting worse, then the same for better, then a change of depth, and
    otherwise steady."""
    if faults is None or descent is None or depth is None:
        return TREND_SENTENCES["all", "too few"]
    changes: list[tuple[str, Verdict]] = [(fault, faults[fault]) for fault in SAFETY_ORDER]
    changes.append(("descent", descent))
    for wanted in ("worse", "better"):
        for measure, verdict in changes:
            if verdict == wanted:
                return TREND_SENTENCES[measure, verdict]
    if depth != "steady":
        return TREND_SENTENCES["depth", depth]
    return TREND_SENTENCES["all", "steady"]


def _mean(
    points: Sequence[SessionTrendPoint], value: Callable[[SessionTrendPoint], float]
) -> float:
    """Over every rep of the sessions: a session of twelve reps weighs more than one of four."""
    return sum(value(p) * p.reps for p in points) / sum(p.reps for p in points)


def _fault_verdict(
    older: Sequence[SessionTrendPoint], newer: Sequence[SessionTrendPoint], fault: Fault
) -> Verdict:
    before = sum(p.faults[fault] for p in older) / sum(p.reps for p in older)
    now = sum(p.faults[fault] for p in newer) / sum(p.reps for p in newer)
    # Strict, as the session report's verdict is.
    if now < before - STEADY_BAND:
        return "better"
    if now > before + STEADY_BAND:
        return "worse"
    return "steady"


def _descent_verdict(before_s: float, now_s: float) -> Verdict:
    low, high = DESCENT_TARGET_S

    def off_target(seconds: float) -> float:
        return max(0.0, low - seconds, seconds - high)

    change = off_target(now_s) - off_target(before_s)
    if change < -DESCENT_STEADY_S:
        return "better"
    if change > DESCENT_STEADY_S:
        return "worse"
    return "steady"


def _depth_change(before_mm: float, now_mm: float) -> DepthChange:
    if now_mm > before_mm * (1 + DEPTH_STEADY_SHARE):
        return "deeper"
    if now_mm < before_mm * (1 - DEPTH_STEADY_SHARE):
        return "shallower"
    return "steady"
