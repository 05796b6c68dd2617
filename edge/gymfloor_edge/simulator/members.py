"""Members and their reps: how deep, how fast, and where their pelvis starts to tuck.

Every rep is drawn from a style (clean, or one fault or a mix), and its ground truth is the
contract's rules applied to the noise-free signals. A rep whose truth would sit close to a
threshold is drawn again, so that the labels are unambiguous. A member who comes back follows a
course: their share of faulty reps shrinks, holds or grows from one round of visits to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from gymfloor.contract import Fault
from gymfloor_edge.simulator.motion import Descent, Piece, Tilt, movement

TRUTH_HZ = 2000.0


class Style(Enum):
    CLEAN = "clean"
    LIFTOFF = "liftoff"
    EXCESS = "excess"
    LIFTOFF_AND_EXCESS = "liftoff+excess"
    FAST = "fast"
    DROP = "drop"
    FAST_AND_LIFTOFF = "fast+liftoff"
    DROP_AND_EXCESS = "drop+excess"
    ALL_THREE = "fast+liftoff+excess"


STYLE_WEIGHTS = {
    Style.CLEAN: 0.38,
    Style.LIFTOFF: 0.10,
    Style.EXCESS: 0.10,
    Style.LIFTOFF_AND_EXCESS: 0.10,
    Style.FAST: 0.10,
    Style.DROP: 0.08,
    Style.FAST_AND_LIFTOFF: 0.06,
    Style.DROP_AND_EXCESS: 0.06,
    Style.ALL_THREE: 0.02,
}

FAULTY_SHARE_RANGE = (0.05, 0.85)
"""However a course runs, some reps still go wrong and some still go right."""
HABIT_WEIGHT = 4.0
"""How much likelier a member's habitual fault is than the floor's mix would make it."""


@dataclass(frozen=True, slots=True)
class Course:
    """How a recurring member's form changes: the share of their reps with a fault, from round to
    round of visits on the floor (the n-th visit of every machine makes round n), and the
    fault they fall into most."""

    faulty_share: float  # in the first round
    change_per_round: float  # < 0: improving, 0: holding, > 0: slipping
    habit: Style

    def style_weights(self, floor_round: int) -> dict[Style, float]:
        low, high = FAULTY_SHARE_RANGE
        faulty = min(high, max(low, self.faulty_share + self.change_per_round * floor_round))
        faults = {
            style: weight * (HABIT_WEIGHT if style is self.habit else 1.0)
            for style, weight in STYLE_WEIGHTS.items()
            if style is not Style.CLEAN
        }
        total = sum(faults.values())
        return {Style.CLEAN: 1.0 - faulty} | {
            style: faulty * weight / total for style, weight in faults.items()
        }


COURSES = {
    # (first round's faulty share, change per round), drawn in these ranges; members take them
    # in turn, so that any pool of three or more has each.
    "improving": ((0.55, 0.8), (-0.1, -0.06)),
    "holding": ((0.3, 0.6), (0.0, 0.0)),
    "slipping": ((0.25, 0.45), (0.03, 0.06)),
}


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    top_mm: float  # sled position they start each rep from
    travel_mm: float  # usual depth of a rep
    tilt_depth_mm: float  # depth where the pelvis starts to tuck
    baseline_kpa: float
    sacral_kpa: float
    eccentric_s: float  # usual descent time
    concentric_s: float
    top_pause_s: float
    course: Course | None = None  # None: a one-off visitor, with the floor's mix of styles

    def style_weights(self, floor_round: int) -> dict[Style, float]:
        return STYLE_WEIGHTS if self.course is None else self.course.style_weights(floor_round)


def member_pool(seed: int, count: int) -> list[Member]:
    """Members who come back: ids m-0001, m-0002, …, each with the same build on every visit and
    a course their form follows (improving, holding, slipping, in turn)."""
    rng = np.random.default_rng([seed, count])  # apart from the visits' own random stream
    kinds = list(COURSES.values())
    return [
        replace(
            random_member(rng, f"m-{index + 1:04d}"),
            course=random_course(rng, *kinds[index % len(kinds)]),
        )
        for index in range(count)
    ]


def random_course(
    rng: np.random.Generator, share: tuple[float, float], change: tuple[float, float]
) -> Course:
    faulty_styles = [style for style in STYLE_WEIGHTS if style is not Style.CLEAN]
    return Course(
        faulty_share=rng.uniform(*share),
        change_per_round=rng.uniform(*change),
        habit=faulty_styles[int(rng.integers(len(faulty_styles)))],
    )


def random_member(rng: np.random.Generator, member_id: str) -> Member:
    travel = rng.uniform(220.0, 420.0)
    return Member(
        member_id=member_id,
        top_mm=rng.uniform(5.0, 45.0),
        travel_mm=travel,
        tilt_depth_mm=travel + rng.uniform(20.0, 60.0),
        baseline_kpa=rng.uniform(3.0, 9.0),
        sacral_kpa=rng.uniform(5.0, 12.0),
        eccentric_s=rng.uniform(2.0, 3.0),
        concentric_s=rng.uniform(0.9, 1.6),
        top_pause_s=rng.uniform(0.4, 1.4),
    )


@dataclass(frozen=True, slots=True)
class RepTruth:
    """What the contract's rules say about a noise-free rep."""

    rom_mm: float
    eccentric_s: float
    min_ratio: float
    liftoff_s: float  # longest stretch below the lift-off ratio
    past_onset_mm: float  # travel after the tilt onset, 0 without one
    peak_speed: float  # fastest 200 ms of the descent, mm/s
    faults: frozenset[Fault]

    def is_clear(self) -> bool:
        """False if any rule's input is close enough to its threshold to be a coin toss."""
        liftoff_clear = (self.min_ratio > 0.6) or (self.min_ratio < 0.42 and self.liftoff_s > 0.2)
        excess_clear = self.past_onset_mm < 15.0 or self.past_onset_mm > 48.0
        descent_clear = not 1.3 < self.eccentric_s < 1.75 and not 470.0 < self.peak_speed < 780.0
        return liftoff_clear and excess_clear and descent_clear


def judge(piece: Piece) -> RepTruth:
    """Apply the contract's default rules to the noise-free signals of one rep."""
    assert piece.descent is not None
    dt = 1.0 / TRUTH_HZ
    t = piece.t0 + np.arange(int(piece.duration_s * TRUTH_HZ) + 1) * dt
    depth = piece.depth(t)
    ratio = piece.ratio(t)
    below = ratio < 0.5
    longest, run = 0, 0
    for flag in below:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    onset = np.flatnonzero(ratio < 0.85)
    past_onset = float(depth.max() - depth[onset[0]]) if onset.size else 0.0
    descending = t <= piece.t_bottom
    lag = int(0.2 * TRUTH_HZ)
    drops = (depth[lag:] - depth[:-lag])[descending[lag:]] / 0.2
    peak_speed = float(drops.max()) if drops.size else 0.0
    ecc = piece.descent.duration_s
    faults = set()
    if longest * dt >= 0.1:
        faults.add(Fault.LUMBAR_LIFTOFF)
    if past_onset > 30.0:
        faults.add(Fault.EXCESSIVE_ROM)
    if ecc < 1.5 or peak_speed > 600.0:
        faults.add(Fault.UNCONTROLLED_DESCENT)
    return RepTruth(
        rom_mm=float(depth.max()),
        eccentric_s=ecc,
        min_ratio=float(ratio.min()),
        liftoff_s=longest * dt,
        past_onset_mm=past_onset,
        peak_speed=peak_speed,
        faults=frozenset(faults),
    )


def plan_rep(
    rng: np.random.Generator, member: Member, t0: float, style: Style
) -> tuple[Piece, RepTruth]:
    """Draw a rep of the given style until its truth is unambiguous."""
    for _ in range(200):
        piece = _draw_rep(rng, member, t0, style)
        truth = judge(piece)
        if truth.is_clear():
            return piece, truth
    raise RuntimeError(f"could not draw an unambiguous {style.value} rep")


def _draw_rep(rng: np.random.Generator, member: Member, t0: float, style: Style) -> Piece:
    name = style.value
    ecc = member.eccentric_s * rng.uniform(0.9, 1.1)
    creep_mm = creep_s = 0.0
    if "fast" in name:
        ecc = rng.uniform(0.7, 1.2)
    elif "drop" in name:
        creep_s = rng.uniform(1.2, 1.6)
        creep_mm = rng.uniform(30.0, 50.0)
        ecc = creep_s + rng.uniform(0.3, 0.45)

    # Where the pelvis starts to tuck, and how quickly the back then leaves the pad.
    tilt_depth = member.tilt_depth_mm * rng.uniform(0.97, 1.03)
    if "liftoff" in name and "excess" in name:
        slope = rng.uniform(0.008, 0.012)
        past_onset = rng.uniform(55.0, 80.0)
    elif "liftoff" in name:
        slope = rng.uniform(0.035, 0.05)
        past_onset = rng.uniform(12.0, 14.0)
    elif "excess" in name:
        slope = rng.uniform(0.002, 0.0035)
        past_onset = rng.uniform(55.0, 70.0)
    else:
        slope = rng.uniform(0.004, 0.02)
        past_onset = None
    if past_onset is None:
        depth = min(member.travel_mm * rng.uniform(0.92, 1.05), tilt_depth - 5.0)
    else:
        onset_depth = tilt_depth + 0.15 / slope
        depth = onset_depth + past_onset
    depth = max(depth, 150.0)
    descent = Descent(depth, ecc, creep_mm, creep_s)
    pause = rng.uniform(0.0, 0.3)
    if "liftoff" in name:
        pause = rng.uniform(0.2, 0.4)  # lift-off shows most while the member sits in the hole
    ascent = member.concentric_s * rng.uniform(0.9, 1.1)
    return movement(t0, member.top_mm, descent, pause, ascent, Tilt(tilt_depth, slope))


def foot_adjustment(rng: np.random.Generator, top_mm: float, t0: float) -> Piece:
    """Shuffling the feet moves the sled a little, well short of a rep."""
    depth = rng.uniform(12.0, 60.0)
    return movement(t0, top_mm, Descent(depth, rng.uniform(0.3, 0.6)), 0.1, rng.uniform(0.3, 0.6))
