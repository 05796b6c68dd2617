"""Simulated leg presses: physically plausible sets with ground-truth labels.

`simulate()` plays several machines at once and returns the messages in the order a broker
would deliver them, ready to be written as a recording (docs/CONTRACT.md section 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gymfloor.contract import MachineKey
from gymfloor_edge.simulator.members import Member, member_pool
from gymfloor_edge.simulator.scenario import LabelledRep, script_machine
from gymfloor_edge.simulator.transport import Imperfections, Published, publish_machine

__all__ = [
    "Imperfections",
    "LabelledRep",
    "Member",
    "Published",
    "Simulation",
    "SimulationPlan",
    "member_pool",
    "simulate",
]

DEFAULT_START = 1_764_064_800.0


@dataclass(frozen=True, slots=True)
class Simulation:
    messages: list[Published]
    labels: list[LabelledRep]


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    seed: int = 1
    machines: int = 3
    visits: int = 2
    gym_id: str = "g1"
    start: float = DEFAULT_START
    rates_hz: tuple[float, ...] = (50.0, 100.0, 200.0)
    batch_s: float = 0.1
    members: int = 0
    """Members who come back, visit after visit; 0: every visit is by a new member."""
    imperfections: Imperfections = field(default_factory=Imperfections)


def simulate(plan: SimulationPlan) -> Simulation:
    rng = np.random.default_rng(plan.seed)
    messages: list[Published] = []
    labels: list[LabelledRep] = []
    pool = member_pool(plan.seed, plan.members)
    for index in range(plan.machines):
        machine_id = f"lp-{index + 1:02d}"
        script = script_machine(rng, machine_id, plan.start, plan.visits, members=pool)
        hz = float(rng.choice(plan.rates_hz))
        key = MachineKey(plan.gym_id, machine_id)
        messages += publish_machine(
            rng, key, script, plan.start, hz, plan.batch_s, plan.imperfections
        )
        labels += script.labels
    messages.sort(key=lambda m: m.t)
    return Simulation(messages, labels)
