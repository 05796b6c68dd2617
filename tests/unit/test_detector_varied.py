"""Hundreds of sets that share nothing with the simulator but the contract: random sample
rates (10-1000 Hz), batch sizes, movement shapes, sensor noise, members sitting down just
before their first rep, foot adjustments, and every fault alone and together. Each rep must be
found and carry exactly the faults its signals call for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from gymfloor.contract import Fault
from tests.support.synth import Shape, Track, cosine, linear, min_jerk, reports, run

SHAPES: tuple[Shape, ...] = (cosine, linear, min_jerk)
STYLES = ("clean", "liftoff", "excess", "fast", "liftoff+excess")


@dataclass(frozen=True)
class TrueRep:
    t_start: float
    depth_mm: float
    eccentric_s: float
    faults: list[Fault]


def back_off_past(top: float, depth: float, share: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda pos: np.where(pos > top + depth, share, 1.0)


def random_set(seed: int) -> tuple[Track, int, list[TrueRep]]:
    rng = np.random.default_rng(seed)
    hz = float(rng.choice([10, 25, 50, 100, 200, 500, 1000]))
    top = rng.uniform(0.0, 60.0)
    track = Track(hz=hz, top_mm=top, baseline_kpa=rng.uniform(1.5, 10.0), seated=0.0)
    track.empty(rng.uniform(0.5, 3.0)).sit(rng.uniform(0.1, 0.6)).hold(rng.uniform(0.05, 2.0))
    truth = []
    for _ in range(int(rng.integers(4, 10))):
        if rng.random() < 0.2:  # moving the feet: not a rep
            shift = rng.uniform(10.0, 70.0)
            track.move(shift, rng.uniform(0.3, 0.8)).hold(0.2)
            track.move(-shift, rng.uniform(0.3, 0.8)).hold(rng.uniform(0.3, 1.0))
        depth = rng.uniform(150.0, 450.0)
        style = str(rng.choice(STYLES))
        faults = []
        track.back = lambda pos: np.ones_like(pos)
        if "liftoff" in style:
            past_onset = rng.uniform(50.0, 80.0) if "excess" in style else rng.uniform(8.0, 15.0)
            track.back = back_off_past(top, depth - past_onset, rng.uniform(0.15, 0.4))
            faults.append(Fault.LUMBAR_LIFTOFF)
        elif style == "excess":
            track.back = back_off_past(top, depth - rng.uniform(50.0, 90.0), 0.75)
        if "excess" in style:
            faults.append(Fault.EXCESSIVE_ROM)
        down = rng.uniform(0.6, 1.2) if style == "fast" else rng.uniform(1.9, 3.2)
        if style == "fast":
            faults.append(Fault.UNCONTROLLED_DESCENT)
        pause = rng.uniform(0.15, 0.5) if "liftoff" in style else rng.uniform(0.0, 0.3)
        truth.append(TrueRep(track.t, depth, down, faults))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        track.rep(
            depth,
            down_s=down,
            up_s=rng.uniform(0.8, 1.6),
            pause_s=pause,
            top_s=rng.uniform(0.3, 1.5),
            shape=shape,
        )
    track.empty(rng.uniform(0.5, 3.0))  # gets up, sometimes straight after the last rep
    n = len(track.sled)
    track.sled = (np.array(track.sled) + rng.normal(0.0, rng.uniform(0.2, 2.0), n)).tolist()
    lumbar = np.array(track.lumbar)
    track.lumbar = (lumbar * (1 + rng.normal(0.0, 0.03, n)) + rng.normal(0.0, 0.03, n)).tolist()
    return track, int(rng.choice([1, 5, 10, 20, 50])), truth


@pytest.mark.parametrize("first_seed", range(0, 300, 50))
def test_every_rep_and_fault_of_varied_sets(first_seed: int) -> None:
    rom_errors, eccentric_errors = [], []
    for seed in range(first_seed, first_seed + 50):
        track, per_batch, truth = random_set(seed)
        found = reports(run(track.batches(per=per_batch)))
        assert len(found) == len(truth), f"seed {seed}"
        for report, true in zip(found, truth, strict=True):
            assert report.faults == true.faults, f"seed {seed}, rep {report.rep}"
            rom_errors.append(abs(report.rom_mm - true.depth_mm))
            eccentric_errors.append(abs(report.eccentric_s - true.eccentric_s))
    assert np.mean(rom_errors) < 1.5 and max(rom_errors) < 10.0
    assert np.mean(eccentric_errors) < 0.12 and max(eccentric_errors) < 0.8
