"""Detection accuracy against simulated ground truth.

Simulates several gyms (one per seed) with every fault alone and combined, sensor noise,
drop-outs and lost or repeated batches; writes each as a recording, runs `analyze` over it,
and prints precision, recall and F1 for reps and for each fault, and the mean absolute error
of rom_mm and eccentric_s.

    python bench/accuracy.py [--seeds 1-10] [--machines 4] [--visits 2] [--show-misses]
"""

from __future__ import annotations

import argparse
import io
import json

from gymfloor.analyze import analyze
from gymfloor.contract import encode_line
from gymfloor.detector import Detector
from gymfloor_edge.simulator import SimulationPlan, simulate
from gymfloor_edge.simulator.scoring import Score, score


def seed_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def run_seed(seed: int, machines: int, visits: int) -> Score:
    simulation = simulate(SimulationPlan(seed=seed, machines=machines, visits=visits))
    recording = io.BytesIO(
        "".join(encode_line(m.topic, m.payload) + "\n" for m in simulation.messages).encode()
    )
    reports = [
        r.model_dump(mode="json") for r in analyze(recording, Detector(), on_skip=lambda *_: None)
    ]
    return score(reports, [label.to_dict() for label in simulation.labels])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=seed_range, default=seed_range("1-10"))
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--visits", type=int, default=2)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    total = Score()
    for seed in args.seeds:
        total.add(run_seed(seed, args.machines, args.visits))

    print(
        f"seeds {args.seeds.start}-{args.seeds.stop - 1}, {args.machines} machines x "
        f"{args.visits} visits each, {total.reps.tp + total.reps.fn} true reps"
    )
    print(f"{'':22s} {'precision':>9s} {'recall':>7s} {'F1':>7s}   tp/fp/fn")
    rows = [("rep detection", total.reps)] + [(f.value, t) for f, t in total.faults.items()]
    for name, tally in rows:
        print(
            f"{name:22s} {tally.precision:9.4f} {tally.recall:7.4f} {tally.f1:7.4f}"
            f"   {tally.tp}/{tally.fp}/{tally.fn}"
        )
    print(f"rom_mm MAE             {total.rom_mae:.2f} mm")
    print(f"eccentric_s MAE        {total.eccentric_mae:.3f} s")
    print(f"session/member/rep attribution errors: {total.attribution_errors}")
    if args.show_misses:
        for label, report in total.misses:
            print(json.dumps({"truth": label, "report": report}))


if __name__ == "__main__":
    main()
