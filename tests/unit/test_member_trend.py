"""A member's trend: the store sums up their recent sessions, the API reads what changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gymfloor import coaching
from gymfloor.api.member_trend import (
    DEPTH_STEADY_SHARE,
    DESCENT_STEADY_S,
    MIN_SESSIONS,
    member_trend,
)
from gymfloor.api.session_report import STEADY_BAND, session_report
from gymfloor.contract import Fault, MachineKey, SessionPayload
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore
from gymfloor.storage.models import SessionTrendPoint
from gymfloor.storage.sessions import page_sessions, recent_session_figures, session_history
from tests.support.synth import rep_report

LP01 = MachineKey("g1", "lp-01")


def point(
    n: int,
    reps: int = 10,
    liftoff: int = 0,
    rom: int = 0,
    descent: int = 0,
    rom_mm: float = 300.0,
    eccentric_s: float = 2.5,
) -> SessionTrendPoint:
    """Session number `n` of member m-1, with so many reps showing each fault."""
    faults = {
        Fault.LUMBAR_LIFTOFF: liftoff,
        Fault.EXCESSIVE_ROM: rom,
        Fault.UNCONTROLLED_DESCENT: descent,
    }
    return SessionTrendPoint(
        gym_id="g1",
        machine_id="lp-01",
        session_id=f"s-{n}",
        t_start=1000.0 * n,
        reps=reps,
        faults=faults,
        fault_shares={fault: count / reps for fault, count in faults.items()},
        mean_rom_mm=rom_mm,
        mean_eccentric_s=eccentric_s,
    )


def newest_first(*points: SessionTrendPoint) -> list[SessionTrendPoint]:
    return sorted(points, key=lambda p: -p.t_start)


def test_too_few_sessions_show_no_verdict() -> None:
    trend = member_trend(newest_first(point(1), point(2)), 10)
    assert [p.session_id for p in trend.sessions] == ["s-1", "s-2"]  # oldest first
    assert trend.faults is None and trend.descent is None and trend.depth is None
    assert trend.summary == coaching.TREND_SENTENCES["all", "too few"]
    assert MIN_SESSIONS == 3


@pytest.mark.parametrize(
    ("change", "verdict"),
    [(-STEADY_BAND - 0.1, "better"), (-STEADY_BAND + 0.05, "steady"), (STEADY_BAND + 0.1, "worse")],
)
def test_a_faults_verdict_compares_the_newer_half_with_the_older(
    change: float, verdict: str
) -> None:
    before = 4  # of ten reps
    now = round(before + change * 10)
    trend = member_trend(
        newest_first(
            point(1, rom=before), point(2, rom=before), point(3, rom=now), point(4, rom=now)
        ),
        10,
    )
    assert trend.faults is not None
    assert trend.faults[Fault.EXCESSIVE_ROM] == verdict
    assert trend.faults[Fault.LUMBAR_LIFTOFF] == "steady"
    if verdict != "steady":
        assert trend.summary == coaching.TREND_SENTENCES[Fault.EXCESSIVE_ROM, verdict]


@pytest.mark.parametrize(
    ("before_s", "now_s", "verdict"),
    [
        (1.4, 1.4 + DESCENT_STEADY_S + 0.2, "better"),  # slower, towards two to three seconds
        (2.1, 2.9, "steady"),  # within two to three seconds either way
        (3.0, 3.0 + DESCENT_STEADY_S + 0.2, "worse"),  # slower, past three seconds
        (2.0, 2.0 - DESCENT_STEADY_S - 0.2, "worse"),  # faster, below two
    ],
)
def test_descents_are_judged_by_their_distance_from_two_to_three_seconds(
    before_s: float, now_s: float, verdict: str
) -> None:
    points = [point(n, eccentric_s=before_s if n <= 2 else now_s) for n in range(1, 5)]
    trend = member_trend(newest_first(*points), 10)
    assert trend.descent == verdict
    sentence = ("all", "steady") if verdict == "steady" else ("descent", verdict)
    assert trend.summary == coaching.TREND_SENTENCES[sentence]


def test_the_sentence_puts_a_worse_back_before_anything_better() -> None:
    older = [point(1, liftoff=1, descent=6, eccentric_s=1.2), point(2, liftoff=1, descent=6)]
    newer = [point(3, liftoff=4, eccentric_s=2.5), point(4, liftoff=4, eccentric_s=2.5)]
    trend = member_trend(newest_first(*older, *newer), 10)
    assert trend.faults is not None
    assert trend.faults[Fault.UNCONTROLLED_DESCENT] == "better"
    assert trend.faults[Fault.LUMBAR_LIFTOFF] == "worse"
    assert trend.summary == coaching.TREND_SENTENCES[Fault.LUMBAR_LIFTOFF, "worse"]


def test_depth_is_told_only_when_nothing_else_changed() -> None:
    deeper = 300.0 * (1 + DEPTH_STEADY_SHARE) + 5
    points = [point(n, rom_mm=300.0 if n <= 2 else deeper) for n in range(1, 6)]
    trend = member_trend(newest_first(*points), 10)
    assert trend.depth == "deeper"  # the middle session counts in neither half
    assert trend.summary == coaching.TREND_SENTENCES["depth", "deeper"]


def test_lift_off_that_persists_across_sessions_calls_for_a_professional() -> None:
    persisting = newest_first(*(point(n, liftoff=1) for n in range(1, 4)))
    trend = member_trend(persisting, 1)  # a chart of one session still sees the streak
    assert [p.session_id for p in trend.sessions] == ["s-3"]
    assert trend.liftoff_sessions_in_a_row == 3
    assert trend.see_a_professional and trend.advice == coaching.SEE_A_PROFESSIONAL
    broken = newest_first(point(1, liftoff=1), point(2), point(3, liftoff=1), point(4, liftoff=1))
    trend = member_trend(broken, 10)
    assert trend.liftoff_sessions_in_a_row == 2
    assert not trend.see_a_professional and trend.advice is None
    cleared = newest_first(point(1, liftoff=9), point(2, liftoff=9), point(3))
    assert not member_trend(cleared, 10).see_a_professional


@pytest.fixture
def store(tmp_path: Path) -> OperationalStore:
    return OperationalStore(f"sqlite:///{tmp_path / 'store.db'}")


def train(store: OperationalStore, start: float, faults: list[list[Fault]]) -> None:
    session_id = f"s-{start:.0f}"
    check_in = SessionPayload(v=1, event="start", t=start, session_id=session_id, member_id="m-1")
    reps = [
        rep_report(n, *fault, t0=start).model_copy(
            update={"session_id": session_id, "rom_mm": 300.0 + n, "eccentric_s": 2.0 + n / 3}
        )
        for n, fault in enumerate(faults, start=1)
    ]
    store.write(Changes(reports=reps, sessions=[(LP01, check_in)]))


def test_the_store_sums_up_the_last_sessions_with_reps(store: OperationalStore) -> None:
    liftoff, rom = [Fault.LUMBAR_LIFTOFF], [Fault.EXCESSIVE_ROM]
    train(store, 1000, [liftoff, [], []])
    train(store, 2000, [liftoff, rom, [], [Fault.LUMBAR_LIFTOFF, Fault.EXCESSIVE_ROM]])
    train(store, 3000, [])  # checked in, no reps
    train(store, 4000, [[], [], rom])
    with store.read() as db:
        figures = recent_session_figures(db, "m-1", 2)
        everything = recent_session_figures(db, "m-1", 10)
        nobody = recent_session_figures(db, "m-2", 10)
    assert [p.session_id for p in figures] == ["s-4000", "s-2000"]
    assert [p.session_id for p in everything] == ["s-4000", "s-2000", "s-1000"]
    assert nobody == []
    second = figures[1]
    assert second.reps == 4
    assert second.faults == {
        Fault.LUMBAR_LIFTOFF: 2,
        Fault.EXCESSIVE_ROM: 2,
        Fault.UNCONTROLLED_DESCENT: 0,
    }
    assert second.fault_shares[Fault.LUMBAR_LIFTOFF] == 0.5
    assert second.mean_rom_mm == 302.5
    assert second.mean_eccentric_s == 2.83  # of 2.8333…
    assert figures[0].fault_shares[Fault.EXCESSIVE_ROM] == 0.333  # of 0.3333…


def test_the_trend_and_the_session_report_agree_on_a_professional(
    store: OperationalStore,
) -> None:
    # Lift-off in one rep of five, three sessions running, a session without reps between.
    for start in (1000, 2000, 4000):
        train(store, start, [[Fault.LUMBAR_LIFTOFF], [], [], [], []])
    train(store, 3000, [])
    with store.read() as db:
        trend = member_trend(recent_session_figures(db, "m-1", 10), 10)
        session, *earlier = session_history(db, "m-1", "s-4000", 5)
        assert page_sessions(db, "m-1", None, 10).items[0] == session
    reps = [rep_report(1, Fault.LUMBAR_LIFTOFF), *(rep_report(n) for n in range(2, 6))]
    report = session_report(session, reps, earlier)  # the streak decides, not the share
    assert report.trend.liftoff_sessions_in_a_row == trend.liftoff_sessions_in_a_row == 3
    assert report.see_a_professional and trend.see_a_professional
