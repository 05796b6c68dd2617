"""Compare rep reports with a simulation's ground truth: the accuracy benchmark and the
integration tests judge the detector this way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gymfloor.contract import Fault


@dataclass(slots=True)
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: Tally) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn


@dataclass(slots=True)
class Score:
    reps: Tally = field(default_factory=Tally)
    faults: dict[Fault, Tally] = field(default_factory=lambda: {f: Tally() for f in Fault})
    rom_errors: list[float] = field(default_factory=list)
    eccentric_errors: list[float] = field(default_factory=list)
    attribution_errors: int = 0  # matched reps with the wrong session, member or rep index
    misses: list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]] = field(
        default_factory=list
    )

    @property
    def rom_mae(self) -> float:
        return float(np.mean(self.rom_errors)) if self.rom_errors else 0.0

    @property
    def eccentric_mae(self) -> float:
        return float(np.mean(self.eccentric_errors)) if self.eccentric_errors else 0.0

    def add(self, other: Score) -> None:
        self.reps.add(other.reps)
        for fault, tally in other.faults.items():
            self.faults[fault].add(tally)
        self.rom_errors += other.rom_errors
        self.eccentric_errors += other.eccentric_errors
        self.attribution_errors += other.attribution_errors
        self.misses += other.misses


def score(reports: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]]) -> Score:
    """Pair each true rep with the report whose deepest point falls inside it, then count."""
    result = Score()
    unmatched = {id(r): r for r in reports}
    by_machine: dict[str, list[Mapping[str, Any]]] = {}
    for report in unmatched.values():
        by_machine.setdefault(report["machine_id"], []).append(report)
    for label in labels:
        candidates = [
            r
            for r in by_machine.get(label["machine_id"], [])
            if id(r) in unmatched and label["t_start"] <= r["t_bottom"] <= label["t_end"]
        ]
        if not candidates:
            result.reps.fn += 1
            result.misses.append((label, None))
            for fault in label["faults"]:
                result.faults[Fault(fault)].fn += 1
            continue
        report = min(candidates, key=lambda r: abs(r["t_bottom"] - label["t_bottom"]))
        del unmatched[id(report)]
        result.reps.tp += 1
        result.rom_errors.append(abs(report["rom_mm"] - label["rom_mm"]))
        result.eccentric_errors.append(abs(report["eccentric_s"] - label["eccentric_s"]))
        if any(report[k] != label[k] for k in ("session_id", "member_id", "rep")):
            result.attribution_errors += 1
        truth, found = set(label["faults"]), set(report["faults"])
        for fault in Fault:
            tally = result.faults[fault]
            tally.tp += fault in truth and fault in found
            tally.fp += fault not in truth and fault in found
            tally.fn += fault in truth and fault not in found
        if truth != found:
            result.misses.append((label, report))
    for report in unmatched.values():
        result.reps.fp += 1
        result.misses.append((None, report))
        for fault in report["faults"]:
            result.faults[Fault(fault)].fp += 1
    return result
