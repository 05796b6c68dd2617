"""The simulator makes what the detector will meet: every fault alone and combined, sessions and
anonymous use, and imperfect delivery, all reproducible from a seed."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from gymfloor.contract import (
    Fault,
    TelemetryPayload,
    decode_session,
    decode_telemetry,
    encode_payload,
)
from gymfloor_edge.simulator import Imperfections, Simulation, SimulationPlan, simulate
from gymfloor_edge.simulator.members import (
    STYLE_WEIGHTS,
    Style,
    judge,
    member_pool,
    plan_rep,
    random_member,
)

PLAN = SimulationPlan(seed=5, machines=4, visits=2)
STYLE_FAULTS: dict[Style, set[Fault]] = {
    Style.CLEAN: set(),
    Style.LIFTOFF: {Fault.LUMBAR_LIFTOFF},
    Style.EXCESS: {Fault.EXCESSIVE_ROM},
    Style.LIFTOFF_AND_EXCESS: {Fault.LUMBAR_LIFTOFF, Fault.EXCESSIVE_ROM},
    Style.FAST: {Fault.UNCONTROLLED_DESCENT},
    Style.DROP: {Fault.UNCONTROLLED_DESCENT},
    Style.FAST_AND_LIFTOFF: {Fault.UNCONTROLLED_DESCENT, Fault.LUMBAR_LIFTOFF},
    Style.DROP_AND_EXCESS: {Fault.UNCONTROLLED_DESCENT, Fault.EXCESSIVE_ROM},
    Style.ALL_THREE: set(Fault),
}


def test_the_same_seed_gives_the_same_recording() -> None:
    a, b = simulate(PLAN), simulate(PLAN)
    assert [m.payload for m in a.messages] == [m.payload for m in b.messages]
    assert a.labels == b.labels


def test_messages_are_valid_contract_payloads_in_arrival_order() -> None:
    sim = simulate(PLAN)
    assert [m.t for m in sim.messages] == sorted(m.t for m in sim.messages)
    for message in sim.messages:
        if message.topic.endswith("/telemetry"):
            decode_telemetry(encode_payload(message.payload))
        else:
            decode_session(encode_payload(message.payload))


def test_delivery_is_imperfect_as_asked() -> None:
    sim = simulate(PLAN)
    telemetry = telemetry_of(sim)
    deliveries = Counter(
        (m.topic, m.payload.boot, m.payload.seq)
        for m in sim.messages
        if isinstance(m.payload, TelemetryPayload)
    )
    assert any(n > 1 for n in deliveries.values())  # repeated deliveries
    assert any(None in p.sled_mm for p in telemetry)  # dropped samples
    assert {p.hz for p in telemetry} <= {50.0, 100.0, 200.0}
    perfect = simulate(
        SimulationPlan(seed=5, machines=4, visits=2, imperfections=Imperfections.none())
    )
    perfect_telemetry = telemetry_of(perfect)
    assert not any(None in p.sled_mm for p in perfect_telemetry)

    def unchanged_share(payloads: list[TelemetryPayload]) -> float:
        """How often a sled reading repeats the one before: a still sled without noise."""
        sled = [x for p in payloads for x in p.sled_mm if x is not None]
        return float(np.mean(np.diff(sled) == 0.0))

    assert unchanged_share(perfect_telemetry) > 3 * unchanged_share(telemetry)
    assert len({(p.boot, p.seq) for p in perfect_telemetry}) == len(perfect_telemetry)


def telemetry_of(simulation: Simulation) -> list[TelemetryPayload]:
    return [m.payload for m in simulation.messages if isinstance(m.payload, TelemetryPayload)]


def test_every_style_yields_its_faults() -> None:
    rng = np.random.default_rng(0)
    member = random_member(rng, "m1")
    for style, faults in STYLE_FAULTS.items():
        piece, truth = plan_rep(rng, member, 0.0, style)
        assert set(truth.faults) == faults, style
        assert truth.is_clear() and judge(piece) == truth


def test_a_drop_is_slow_on_average_and_fast_in_the_drop() -> None:
    rng = np.random.default_rng(1)
    _, truth = plan_rep(rng, random_member(rng, "m1"), 0.0, Style.DROP)
    assert truth.eccentric_s >= 1.5 and truth.peak_speed > 600.0


def test_labels_cover_sessions_and_anonymous_use() -> None:
    labels = simulate(SimulationPlan(seed=2, machines=6, visits=2)).labels
    assert any(label.session_id is None for label in labels)
    assert any(label.session_id is not None for label in labels)
    for machine in {label.machine_id for label in labels}:
        anonymous = [x.rep for x in labels if x.machine_id == machine and x.session_id is None]
        assert anonymous == list(range(1, len(anonymous) + 1))


def test_recurring_members_follow_their_course_from_round_to_round() -> None:
    plan = SimulationPlan(seed=7, machines=3, visits=10, members=3)
    simulation = simulate(plan)
    assert simulation.labels == simulate(plan).labels  # the same seed, the same courses
    courses = {m.member_id: m.course for m in member_pool(plan.seed, plan.members)}
    early: dict[str, list[bool]] = defaultdict(list)
    late: dict[str, list[bool]] = defaultdict(list)
    for label in simulation.labels:
        if label.member_id is None:
            continue
        visit = int(str(label.session_id).rsplit("-", 1)[1])  # s-lp-01-7: round 7
        if visit < 3:
            early[label.member_id].append(bool(label.faults))
        elif visit >= plan.visits - 3:
            late[label.member_id].append(bool(label.faults))

    def change(member_id: str) -> float:
        return float(np.mean(late[member_id]) - np.mean(early[member_id]))

    by_kind = {c.change_per_round: member for member, c in courses.items() if c is not None}
    improving, holding, slipping = (by_kind[k] for k in sorted(by_kind))
    assert change(improving) < -0.3
    assert abs(change(holding)) < 0.2
    assert change(slipping) > 0.15
    for label in simulation.labels:  # whatever the course, each rep's truth is its style's
        assert set(label.faults) == STYLE_FAULTS[Style(label.style)], label


def test_one_off_visitors_keep_the_floors_mix_of_styles() -> None:
    assert random_member(np.random.default_rng(0), "m1").course is None
    visitor = random_member(np.random.default_rng(0), "m1")
    assert visitor.style_weights(0) == visitor.style_weights(50) == STYLE_WEIGHTS
