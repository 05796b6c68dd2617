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
        coaching.LIGHTER,  # as many reps as bracing concerns: the load comes first
        coaching.BRACE,
        coaching.SETUP,
    ]


def test_advice_ranks_the_back_first_then_depth_then_tempo_then_by_reps_concerned() -> None:
    # The fast descents are the most frequent fault, yet come after the back's.
    reps = [
        rep_report(1, Fault.UNCONTROLLED_DESCENT),
        rep_report(2, Fault.UNCONTROLLED_DESCENT),
        rep_report(3, Fault.UNCONTROLLED_DESCENT, Fault.EXCESSIVE_ROM),
        rep_report(4, Fault.LUMBAR_LIFTOFF),
        rep_report(5),
        rep_report(6),
        rep_report(7),
        rep_report(8),
    ]
    advice = coaching.session_advice(reps)
    assert advice == [
        coaching.ADVICE[Fault.LUMBAR_LIFTOFF],
        coaching.ADVICE[Fault.EXCESSIVE_ROM],
        coaching.ADVICE[Fault.UNCONTROLLED_DESCENT],
        coaching.LIGHTER,  # four faulty reps of eight
        coaching.BRACE,  # two with the back at risk
        coaching.SETUP,
    ]
    assert advice[: coaching.KEY_CUES] == [
        coaching.ADVICE[fault] for fault in coaching.SAFETY_ORDER
    ]


def test_the_rule_for_a_professional_needs_lift_off_now() -> None:
    assert coaching.needs_a_professional(5, 10, 1)  # half the reps
    assert not coaching.needs_a_professional(4, 10, 2)
    assert coaching.needs_a_professional(1, 10, coaching.PROFESSIONAL_AFTER_LIFTOFF_SESSIONS)
    assert not coaching.needs_a_professional(0, 10, 5)  # a clean session, whatever came before


def test_the_lift_off_streak_passes_over_sessions_without_reps() -> None:
    # (reps, reps with lift-off), newest first
    assert coaching.liftoff_streak([(8, 1), (0, 0), (6, 2), (5, 0), (9, 9)]) == 2
    assert coaching.liftoff_streak([(8, 0), (6, 2)]) == 0
    assert coaching.liftoff_streak([]) == 0


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
