"""Session coaching follows what the reps showed."""

from __future__ import annotations

from gymfloor import coaching
from gymfloor.contract import Fault
from tests.support.synth import rep_report


def test_clean_sessions_get_no_advice() -> None:
    assert coaching.session_advice([rep_report(1), rep_report(2)]) == []
    assert coaching.session_advice([]) == []


def test_one_fast_rep_gets_its_cue_and_the_set_up_only() -> None:
    reps = [rep_report(1, Fault.UNCONTROLLED_DESCENT), rep_report(2), rep_report(3), rep_report(4)]
    assert coaching.session_advice(reps) == [
        coaching.ADVICE[Fault.UNCONTROLLED_DESCENT],
        coaching.SETUP,
    ]


def test_back_faults_add_bracing_and_frequent_faults_a_lighter_load() -> None:
    reps = [
        rep_report(1, Fault.EXCESSIVE_ROM),
        rep_report(2, Fault.EXCESSIVE_ROM),
        rep_report(3),
        rep_report(4),
    ]
    assert coaching.session_advice(reps) == [
        coaching.ADVICE[Fault.EXCESSIVE_ROM],
        coaching.SETUP,
        coaching.BRACE,
        coaching.LIGHTER,
    ]


def test_lift_off_in_most_reps_recommends_a_professional() -> None:
    reps = [rep_report(1, Fault.LUMBAR_LIFTOFF), rep_report(2, Fault.LUMBAR_LIFTOFF), rep_report(3)]
    advice = coaching.session_advice(reps)
    assert advice[0] == coaching.ADVICE[Fault.LUMBAR_LIFTOFF]
    assert advice[-1] == coaching.SEE_A_PROFESSIONAL
    once = coaching.session_advice(
        [rep_report(1, Fault.LUMBAR_LIFTOFF), rep_report(2), rep_report(3)]
    )
    assert coaching.SEE_A_PROFESSIONAL not in once


def test_lift_off_that_persists_across_sessions_recommends_a_professional() -> None:
    reps = [rep_report(1, Fault.LUMBAR_LIFTOFF), rep_report(2), rep_report(3), rep_report(4)]
    assert coaching.SEE_A_PROFESSIONAL not in coaching.session_advice(reps, 2)
    assert coaching.session_advice(reps, 3)[-1] == coaching.SEE_A_PROFESSIONAL
    clean = [rep_report(1), rep_report(2)]
    assert coaching.session_advice(clean, 3) == []
