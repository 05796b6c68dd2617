"""Where each fault rule draws its line, measured rather than assumed.

Each test sweeps one property of otherwise clean reps across a threshold of the contract
(docs/CONTRACT.md section 4), finds by bisection the value at which the detector's verdict
flips, and checks that the flip lies where the contract puts the threshold, within what the
signal's sampling allows. Every other rule stays clear of its own threshold, and the reps must
carry no other fault. The contract's figures are written out here rather than read from
DetectorConfig, so a changed default fails too; the same sweeps with other settings show that
the measured lines follow the thresholds (and so that each assertion can fail).

Signals come from tests/support/synth.py, built from the contract alone, at rates it allows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gymfloor.contract import Fault, SessionPayload
from gymfloor.detector import Detector, DetectorConfig
from tests.support.synth import (
    KEY,
    T0,
    Shape,
    Track,
    back_above,
    cosine,
    linear,
    reports,
    run,
    tilting_back,
)

# The contract's defaults.
EXCESS_MM = 30.0  # travel allowed past the tilt onset
TILT_RATIO = 0.85  # lumbar/baseline below this is the tilt onset
LIFTOFF_RATIO = 0.5
LIFTOFF_S = 0.1
MIN_ECCENTRIC_S = 1.5
MAX_DESCENT_MM_S = 600.0

RATES = (50.0, 100.0, 200.0)
TOP = 20.0  # the sled position every rep starts from

Verdict = Callable[[float], bool]


def flip_point(faulted: Verdict, clean: float, faulty: float, resolution: float) -> float:
    """The value between `clean` (judged clean) and `faulty` (judged faulted) at which the
    verdict flips, found by bisection to within `resolution`."""
    assert not faulted(clean), f"already faulted at {clean}"
    assert faulted(faulty), f"still clean at {faulty}"
    while abs(faulty - clean) > resolution:
        middle = (clean + faulty) / 2
        if faulted(middle):
            faulty = middle
        else:
            clean = middle
    return (clean + faulty) / 2


def judged(track: Track, fault: Fault, detector: Detector | None = None) -> bool:
    """Whether the track's one rep has `fault`; it must have no other."""
    found = reports(run(track.batches(per=max(1, round(track.hz / 10))), detector))
    assert len(found) == 1
    assert set(found[0].faults) <= {fault}, found[0].faults
    return fault in found[0].faults


# -- excessive range of motion --------------------------------------------------------------------

ONSET_DEPTH = 250.0  # depth below the top at which the lumbar ratio falls below 85 %
SLOPE = 0.005  # share of the baseline lost per mm, for a back that leaves the pad gradually


def backs(onset: float, tilt_ratio: float) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Two backs that fall below `tilt_ratio` at sled position `onset`: one leaving the pad
    gradually, one at once (to 80 % of the baseline, no lift-off either way)."""
    return {
        "gradual": tilting_back(onset - (1.0 - tilt_ratio) / SLOPE, SLOPE),
        "sudden": back_above(onset, tilt_ratio - 0.05),
    }


def travel_past_onset(
    hz: float, back: str, config: DetectorConfig, tilt_ratio: float = TILT_RATIO
) -> Verdict:
    def faulted(past_mm: float) -> bool:
        track = Track(hz=hz, top_mm=TOP)
        track.back = backs(TOP + ONSET_DEPTH, tilt_ratio)[back]
        track.hold(1.0).rep(ONSET_DEPTH + past_mm)
        return judged(track, Fault.EXCESSIVE_ROM, Detector(config))

    return faulted


@pytest.mark.parametrize("back", ["gradual", "sudden"])
@pytest.mark.parametrize("hz", RATES)
def test_excessive_rom_from_30_mm_past_the_tilt_onset(hz: float, back: str) -> None:
    past = flip_point(travel_past_onset(hz, back, DetectorConfig()), 15.0, 45.0, 0.1)
    assert past == pytest.approx(EXCESS_MM, abs=2.0)


def test_the_depth_limit_is_where_the_member_s_limit_is() -> None:
    limit = TOP + 300.0

    def faulted(depth_mm: float) -> bool:
        detector = Detector()
        start = SessionPayload(
            v=1, event="start", t=T0, session_id="s1", member_id="m1", depth_limit_mm=limit
        )
        detector.session(KEY, start)
        track = Track(top_mm=TOP).hold(1.0).rep(depth_mm)
        return judged(track, Fault.EXCESSIVE_ROM, detector)

    assert flip_point(faulted, 280.0, 320.0, 0.1) == pytest.approx(limit - TOP, abs=2.0)


# -- lumbar lift-off ------------------------------------------------------------------------------


def dip_in_the_hole(hz: float, seconds: float, share: float, config: DetectorConfig) -> bool:
    """Whether the back dropping to `share` of the baseline for `seconds`, during a pause at
    the bottom of a 300 mm rep, is judged a lift-off."""
    track = Track(hz=hz, top_mm=TOP).hold(1.0).move(300.0, 2.5).hold(0.3)
    track.dip(seconds, share).hold(0.3).move(-300.0, 1.2).hold(1.0)
    return judged(track, Fault.LUMBAR_LIFTOFF, Detector(config))


def dip_to(hz: float, seconds: float, config: DetectorConfig) -> Verdict:
    return lambda share: dip_in_the_hole(hz, seconds, share, config)


def dip_lasting(hz: float, share: float, config: DetectorConfig) -> Verdict:
    return lambda seconds: dip_in_the_hole(hz, seconds, share, config)


@pytest.mark.parametrize("seconds", [0.15, 0.5])
@pytest.mark.parametrize("hz", RATES)
def test_lumbar_liftoff_below_half_the_baseline(hz: float, seconds: float) -> None:
    """Held for 0.15 s, the lowest share must count as fully as when held for long."""
    share = flip_point(dip_to(hz, seconds, DetectorConfig()), 0.6, 0.4, 0.002)
    assert share == pytest.approx(LIFTOFF_RATIO, abs=0.02)


@pytest.mark.parametrize("share", [0.0, 0.3])
@pytest.mark.parametrize("hz", RATES)
def test_lumbar_liftoff_lasting_100_ms(hz: float, share: float) -> None:
    seconds = flip_point(dip_lasting(hz, share, DetectorConfig()), 0.04, 0.2, 0.001)
    assert seconds == pytest.approx(LIFTOFF_S, abs=0.02)


# -- uncontrolled descent -------------------------------------------------------------------------


def descent_lasting(hz: float, shape: Shape, config: DetectorConfig) -> Verdict:
    """A 200 mm descent: at most about 260 mm/s, so only its duration can make it a fault."""

    def faulted(seconds: float) -> bool:
        track = Track(hz=hz, top_mm=TOP).hold(1.0).move_for(200.0, seconds, shape)
        track.hold(0.3).move(-200.0, 1.2).hold(1.0)
        return judged(track, Fault.UNCONTROLLED_DESCENT, Detector(config))

    return faulted


@pytest.mark.parametrize("shape", [cosine, linear], ids=["cosine", "steady"])
@pytest.mark.parametrize("hz", RATES)
def test_a_descent_shorter_than_1_5_s_is_uncontrolled(hz: float, shape: Shape) -> None:
    seconds = flip_point(descent_lasting(hz, shape, DetectorConfig()), 1.8, 1.2, 0.002)
    assert seconds == pytest.approx(MIN_ECCENTRIC_S, abs=0.05)


def drop_at(hz: float, config: DetectorConfig) -> Verdict:
    """1.6 s of creeping down 60 mm, then a drop at a steady speed for 0.4 s: the descent
    takes 2 s, so only its speed can make it a fault."""

    def faulted(speed: float) -> bool:
        track = Track(hz=hz, top_mm=TOP).hold(1.0).move_for(60.0, 1.6, linear)
        track.move_for(speed * 0.4, 0.4, linear)
        track.hold(0.3).move(-(60.0 + speed * 0.4), 1.2).hold(1.0)
        return judged(track, Fault.UNCONTROLLED_DESCENT, Detector(config))

    return faulted


@pytest.mark.parametrize("hz", RATES)
def test_a_descent_faster_than_600_mm_s_over_200_ms_is_uncontrolled(hz: float) -> None:
    speed = flip_point(drop_at(hz, DetectorConfig()), 520.0, 680.0, 0.5)
    assert speed == pytest.approx(MAX_DESCENT_MM_S, abs=20.0)


# -- the lines follow the settings ----------------------------------------------------------------


def test_the_measured_lines_move_with_the_thresholds() -> None:
    """With other thresholds the same sweeps find other lines: they measure the rules."""
    config = DetectorConfig(
        excess_mm=40.0,
        tilt_ratio=0.8,
        liftoff_ratio=0.4,
        liftoff_min_s=0.15,
        min_eccentric_s=1.7,
        max_descent_mm_s=500.0,
    )
    for back in ("gradual", "sudden"):
        verdict = travel_past_onset(100.0, back, config, tilt_ratio=0.8)
        past = flip_point(verdict, 25.0, 55.0, 0.1)
        assert past == pytest.approx(40.0, abs=2.0)
    share = flip_point(dip_to(100.0, 0.3, config), 0.5, 0.3, 0.002)
    assert share == pytest.approx(0.4, abs=0.02)
    seconds = flip_point(dip_lasting(100.0, 0.2, config), 0.08, 0.25, 0.001)
    assert seconds == pytest.approx(0.15, abs=0.02)
    seconds = flip_point(descent_lasting(100.0, cosine, config), 2.0, 1.4, 0.002)
    assert seconds == pytest.approx(1.7, abs=0.05)
    speed = flip_point(drop_at(100.0, config), 420.0, 580.0, 0.5)
    assert speed == pytest.approx(500.0, abs=20.0)
