"""Session coaching follows what the reps showed."""

from __future__ import annotations

from gymfloor import coaching
from gymfloor.contract import Fault, RepReport


def rep(n: int, *faults: Fault) -> RepReport:
    return RepReport(
        gym_id="g1",
        machine_id="lp-01",
        session_id="s1",
        member_id="m1",
        rep=n,
        t_start=n * 10.0,
        t_bottom=n * 10.0 + 2.5,
        t_end=n * 10.0 + 4.0,
        rom_mm=300.0,
        eccentric_s=2.5,
        concentric_s=1.2,
        min_lumbar_ratio=0.9,
        faults=list(faults),
        peak_descent_mm_s=250.0,
    )


def test_clean_sessions_get_no_advice() -> None:
    assert coaching.session_advice([rep(1), rep(2)]) == []
    assert coaching.session_advice([]) == []


def test_one_fast_rep_gets_its_cue_and_the_set_up_only() -> None:
    reps = [rep(1, Fault.UNCONTROLLED_DESCENT), rep(2), rep(3), rep(4)]
    assert coaching.session_advice(reps) == [
        coaching.ADVICE[Fault.UNCONTROLLED_DESCENT],
        coaching.SETUP,
    ]


def test_back_faults_add_bracing_and_frequent_faults_a_lighter_load() -> None:
    reps = [rep(1, Fault.EXCESSIVE_ROM), rep(2, Fault.EXCESSIVE_ROM), rep(3), rep(4)]
    assert coaching.session_advice(reps) == [
        coaching.ADVICE[Fault.EXCESSIVE_ROM],
        coaching.SETUP,
        coaching.BRACE,
        coaching.LIGHTER,
    ]


def test_lift_off_in_most_reps_recommends_a_professional() -> None:
    reps = [rep(1, Fault.LUMBAR_LIFTOFF), rep(2, Fault.LUMBAR_LIFTOFF), rep(3)]
    advice = coaching.session_advice(reps)
    assert advice[0] == coaching.ADVICE[Fault.LUMBAR_LIFTOFF]
    assert advice[-1] == coaching.SEE_A_PROFESSIONAL
    once = coaching.session_advice([rep(1, Fault.LUMBAR_LIFTOFF), rep(2), rep(3)])
    assert coaching.SEE_A_PROFESSIONAL not in once


def test_lift_off_that_persists_across_sessions_recommends_a_professional() -> None:
    reps = [rep(1, Fault.LUMBAR_LIFTOFF), rep(2), rep(3), rep(4)]
    assert coaching.SEE_A_PROFESSIONAL not in coaching.session_advice(reps, 2)
    assert coaching.session_advice(reps, 3)[-1] == coaching.SEE_A_PROFESSIONAL
    clean = [rep(1), rep(2)]
    assert coaching.session_advice(clean, 3) == []
