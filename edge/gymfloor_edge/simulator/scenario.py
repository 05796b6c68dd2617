"""A day on one leg press, compressed: members arrive, check in (or not), sit down, move their
feet, do sets with rests between, stand up and leave. Produces the machine's noise-free
timeline, its session events and the ground truth of every rep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gymfloor.contract import VERSION, Fault, SessionPayload
from gymfloor_edge.simulator.members import (
    STYLE_WEIGHTS,
    Member,
    RepTruth,
    Style,
    foot_adjustment,
    plan_rep,
    random_member,
)
from gymfloor_edge.simulator.motion import Piece, Timeline


@dataclass(frozen=True, slots=True)
class LabelledRep:
    """Ground truth for one rep, in the rep report's terms."""

    machine_id: str
    session_id: str | None
    member_id: str | None
    rep: int
    t_start: float
    t_bottom: float
    t_end: float
    rom_mm: float
    eccentric_s: float
    faults: tuple[Fault, ...]
    style: str

    def to_dict(self) -> dict[str, object]:
        return {
            "machine_id": self.machine_id,
            "session_id": self.session_id,
            "member_id": self.member_id,
            "rep": self.rep,
            "t_start": round(self.t_start, 4),
            "t_bottom": round(self.t_bottom, 4),
            "t_end": round(self.t_end, 4),
            "rom_mm": round(self.rom_mm, 2),
            "eccentric_s": round(self.eccentric_s, 4),
            "faults": [f.value for f in self.faults],
            "style": self.style,
        }


@dataclass(frozen=True, slots=True)
class SessionEvent:
    t: float
    payload: SessionPayload


@dataclass(slots=True)
class MachineScript:
    machine_id: str
    timeline: Timeline
    has_seat_pad: bool
    sacral_kpa: list[tuple[float, float, float]]  # (t0, t1, seated kPa) per visit
    events: list[SessionEvent] = field(default_factory=list)
    labels: list[LabelledRep] = field(default_factory=list)
    loads: list[tuple[float, float]] = field(default_factory=list)  # (from t, kg)
    t_end: float = 0.0


def script_machine(
    rng: np.random.Generator,
    machine_id: str,
    t0: float,
    visits: int,
    sets: tuple[int, int] = (1, 3),
    first_visit: int = 0,
    members: Sequence[Member] = (),
    rounds_before: int = 0,
) -> MachineScript:
    """`members`: who may visit; with none, every visit is by a new member. `rounds_before`:
    the visits this machine had before this script since the floor opened; a recurring
    member's form follows the rounds (see `Course`)."""
    rest_mm = float(rng.uniform(0.0, 10.0))
    script = MachineScript(
        machine_id, Timeline([], [], [], rest_mm), bool(rng.random() < 0.7), sacral_kpa=[]
    )
    styles = list(STYLE_WEIGHTS)
    t = t0 + rng.uniform(1.0, 5.0)
    anonymous_reps = 0
    for visit in range(first_visit, first_visit + visits):
        if members:
            member = members[int(rng.integers(len(members)))]
        else:
            member = random_member(rng, f"m-{machine_id}-{visit}")
        checked_in = rng.random() < 0.8
        session_id = f"s-{machine_id}-{visit}" if checked_in else None
        by_style = member.style_weights(rounds_before + visit - first_visit)
        weights = np.array([by_style[style] for style in styles])
        load = float(rng.choice([60, 80, 100, 120, 140, 160, 200]))
        if session_id is not None:
            t = _check_in(rng, script, t, session_id, member, load)
        script.loads.append((t, load))
        visit_start = t
        session_reps = 0
        n_sets = int(rng.integers(sets[0], sets[1] + 1))
        for set_no in range(n_sets):
            t = _sit_down(rng, script, member, t)
            # Some members start the moment they sit; others settle first.
            t += 0.3 if rng.random() < 0.3 else rng.uniform(0.8, 3.0)
            if rng.random() < 0.4:
                t = _add(script, foot_adjustment(rng, member.top_mm, t)) + rng.uniform(0.6, 1.2)
            for _ in range(int(rng.integers(4, 11))):
                if rng.random() < 0.08:
                    t = _add(script, foot_adjustment(rng, member.top_mm, t)) + rng.uniform(0.6, 1.0)
                style = styles[rng.choice(len(styles), p=weights / weights.sum())]
                piece, truth = plan_rep(rng, member, t, style)
                t = _add(script, piece)
                if checked_in:
                    session_reps += 1
                    rep = session_reps
                else:
                    anonymous_reps += 1
                    rep = anonymous_reps
                script.labels.append(
                    _label(machine_id, session_id, member, rep, piece, truth, style)
                )
                t += member.top_pause_s * rng.uniform(0.8, 1.2)
            if set_no + 1 < n_sets:
                t = _rest(rng, script, t)
                if session_id is not None and rng.random() < 0.5:
                    load = float(load + rng.choice([-20, 20, 40]))
                    change = SessionPayload(
                        v=VERSION, event="load", t=round(t, 3), session_id=session_id, load_kg=load
                    )
                    script.events.append(SessionEvent(t, change))
                    script.loads.append((t, load))
        t = _leave(rng, script, member, visit_start, _stand_up(rng, script, t), session_id)
        t += rng.uniform(4.0, 12.0)
    script.t_end = t
    return script


def _check_in(
    rng: np.random.Generator,
    script: MachineScript,
    t: float,
    session_id: str,
    member: Member,
    load: float,
) -> float:
    check_in = SessionPayload(
        v=VERSION,
        event="start",
        t=round(t, 3),
        session_id=session_id,
        member_id=member.member_id,
        load_kg=load,
    )
    script.events.append(SessionEvent(t, check_in))
    return t + rng.uniform(0.5, 2.0)


def _leave(
    rng: np.random.Generator,
    script: MachineScript,
    member: Member,
    visit_start: float,
    t: float,
    session_id: str | None,
) -> float:
    """The visit's pad pressures, now that its span is known, and the check-out if any."""
    script.timeline.baseline.append(
        (
            visit_start - 5.0,
            t + 5.0,
            member.baseline_kpa,
            member.baseline_kpa * (1.0 + rng.uniform(-0.12, 0.12)),
        )
    )
    script.sacral_kpa.append((visit_start - 5.0, t + 5.0, member.sacral_kpa))
    if session_id is not None:
        t += rng.uniform(0.5, 2.0)
        check_out = SessionPayload(v=VERSION, event="end", t=round(t, 3), session_id=session_id)
        script.events.append(SessionEvent(t, check_out))
    return t


def _add(script: MachineScript, piece: Piece) -> float:
    script.timeline.pieces.append(piece)
    return piece.t1


def _sit_down(rng: np.random.Generator, script: MachineScript, member: Member, t: float) -> float:
    duration = rng.uniform(0.3, 0.8)
    script.timeline.seated.append((t, duration, 1.0))
    # The member takes the sled from its rest position to where they hold it.
    _add(script, Piece(t, 0.0, member.top_mm))
    return t + duration


def _stand_up(rng: np.random.Generator, script: MachineScript, t: float) -> float:
    duration = rng.uniform(0.4, 1.0)
    script.timeline.seated.append((t, duration, 0.0))
    _add(script, Piece(t + duration, 0.0, script.timeline.rest_mm))
    return t + duration


def _rest(rng: np.random.Generator, script: MachineScript, t: float) -> float:
    """Between sets a member either stays seated or gets up for a while."""
    if rng.random() < 0.5:
        return t + rng.uniform(6.0, 15.0)
    t = _stand_up(rng, script, t)
    return t + rng.uniform(5.0, 12.0)


def _label(
    machine_id: str,
    session_id: str | None,
    member: Member,
    rep: int,
    piece: Piece,
    truth: RepTruth,
    style: Style,
) -> LabelledRep:
    return LabelledRep(
        machine_id=machine_id,
        session_id=session_id,
        member_id=member.member_id if session_id else None,
        rep=rep,
        t_start=piece.t0,
        t_bottom=piece.t_bottom,
        t_end=piece.t1,
        rom_mm=truth.rom_mm,
        eccentric_s=truth.eccentric_s,
        faults=tuple(f for f in Fault if f in truth.faults),
        style=style.value,
    )
