"""A small signal builder for detector tests, written from the contract alone (not from the
simulator), so that the rules are checked the way an outside evaluator would check them; and rep
reports made up for the code that reads them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gymfloor.contract import Fault, MachineKey, RepReport, TelemetryBatch
from gymfloor.detector import Detector, DetectorOutput, FaultDetected

T0 = 1_764_064_800.0
KEY = MachineKey("g1", "lp-01")

Shape = Callable[[np.ndarray], np.ndarray]  # 0..1 progress -> 0..1 travelled


def cosine(tau: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 - np.cos(np.pi * tau))


def linear(tau: np.ndarray) -> np.ndarray:
    return tau


def min_jerk(tau: np.ndarray) -> np.ndarray:
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


@dataclass
class Track:
    """Samples of one machine, built up segment by segment.

    `back` maps the sled position to the share of the baseline pressed on the lumbar pad, so a
    test describes posture as "how much of the back is on the pad at this depth".
    """

    hz: float = 100.0
    top_mm: float = 20.0
    baseline_kpa: float = 5.0
    seated: float = 1.0
    back: Callable[[np.ndarray], np.ndarray] = field(default=lambda pos: np.ones_like(pos))
    sled: list[float] = field(default_factory=list)
    lumbar: list[float] = field(default_factory=list)

    @property
    def position(self) -> float:
        return self.sled[-1] if self.sled else self.top_mm

    @property
    def t(self) -> float:
        """Time of the next sample."""
        return T0 + len(self.sled) / self.hz

    def _append(self, pos: np.ndarray, lumbar: np.ndarray | None = None) -> Track:
        if lumbar is None:
            lumbar = self.baseline_kpa * self.seated * self.back(pos)
        self.sled += pos.tolist()
        self.lumbar += lumbar.tolist()
        return self

    def hold(self, seconds: float) -> Track:
        n = round(seconds * self.hz)
        return self._append(np.full(n, self.position))

    def move(self, delta_mm: float, seconds: float, shape: Shape = cosine) -> Track:
        n = round(seconds * self.hz)
        tau = np.arange(1, n + 1) / n
        return self._append(self.position + delta_mm * shape(tau))

    def move_for(self, delta_mm: float, seconds: float, shape: Shape = cosine) -> Track:
        """Like `move`, but lasting exactly `seconds` from the last sample, however they fall
        between samples (the sample after the end is already at rest), so that a sweep of
        `seconds` changes the signal smoothly rather than a sample at a time."""
        n = math.ceil(seconds * self.hz - 1e-9)
        tau = np.minimum(1.0, np.arange(1, n + 1) / (seconds * self.hz))
        return self._append(self.position + delta_mm * shape(tau))

    def dip(self, seconds: float, share: float) -> Track:
        """Hold still while the back presses only `share` of its load for exactly `seconds`,
        starting a third of a sample period after the next sample begins. Each sample reads
        the mean over its own period, as an integrating sensor would, so the samples at the
        dip's edges read a mix."""
        dt = 1.0 / self.hz
        start = dt / 3.0
        n = math.ceil((start + seconds) * self.hz) + 1
        begins = np.arange(n) * dt
        inside = np.clip(
            np.minimum(begins + dt, start + seconds) - np.maximum(begins, start), 0, dt
        )
        pos = np.full(n, self.position)
        full = self.baseline_kpa * self.seated * self.back(pos)
        mixed = full + (self.baseline_kpa * self.seated * share - full) * inside / dt
        return self._append(pos, mixed)

    def rep(
        self,
        depth_mm: float,
        down_s: float = 2.5,
        up_s: float = 1.2,
        pause_s: float = 0.2,
        top_s: float = 1.0,
        shape: Shape = cosine,
    ) -> Track:
        self.move(depth_mm, down_s, shape).hold(pause_s)
        return self.move(-depth_mm, up_s).hold(top_s)

    def sit(self, seconds: float = 0.5) -> Track:
        """The pad load ramps from empty to seated."""
        n = round(seconds * self.hz)
        share = np.arange(1, n + 1) / n
        pos = np.full(n, self.position)
        self.seated = 1.0
        return self._append(pos, self.baseline_kpa * share * self.back(pos))

    def empty(self, seconds: float) -> Track:
        self.seated = 0.0
        return self.hold(seconds)

    def batches(
        self, per: int = 10, seq0: int = 0, boot: str | None = "b1"
    ) -> list[TelemetryBatch]:
        sled, lumbar = np.array(self.sled), np.array(self.lumbar)
        return [
            TelemetryBatch(
                seq=seq0 + i // per,
                boot=boot,
                t0=T0 + i / self.hz,
                hz=self.hz,
                sled_mm=sled[i : i + per].copy(),
                lumbar_kpa=lumbar[i : i + per].copy(),
                sacral_kpa=None,
                load_kg=None,
            )
            for i in range(0, len(sled), per)
        ]


def run(batches: list[TelemetryBatch], detector: Detector | None = None) -> list[DetectorOutput]:
    detector = detector or Detector()
    outputs: list[DetectorOutput] = []
    for batch in batches:
        outputs += detector.telemetry(KEY, batch)
    return outputs + detector.flush()


def reports(outputs: list[DetectorOutput]) -> list[RepReport]:
    return [o for o in outputs if isinstance(o, RepReport)]


def live_faults(outputs: list[DetectorOutput]) -> list[FaultDetected]:
    return [o for o in outputs if isinstance(o, FaultDetected)]


def tilting_back(
    onset_mm: float, slope_per_mm: float, floor: float = 0.05
) -> Callable[[np.ndarray], np.ndarray]:
    """A back that stays on the pad down to `onset_mm`, then lifts off by `slope_per_mm` of
    the baseline per mm deeper."""
    return lambda pos: np.clip(1.0 - slope_per_mm * np.maximum(0.0, pos - onset_mm), floor, 1.0)


def back_above(depth_mm: float, share: float) -> Callable[[np.ndarray], np.ndarray]:
    """A back that presses `share` of the baseline anywhere deeper than `depth_mm`."""
    return lambda pos: np.where(pos > depth_mm, share, 1.0)


def rep_report(n: int, *faults: Fault, t0: float = 9000.0) -> RepReport:
    """Member m-1's rep `n` of session s-9000 on g1/lp-01, 10 s after the one before, from
    `t0`; its back came off the pad if it shows any fault."""
    return RepReport(
        gym_id="g1",
        machine_id="lp-01",
        session_id="s-9000",
        member_id="m-1",
        rep=n,
        t_start=t0 + n * 10,
        t_bottom=t0 + 2 + n * 10,
        t_end=t0 + 4 + n * 10,
        rom_mm=300,
        eccentric_s=2.5,
        concentric_s=1.5,
        min_lumbar_ratio=0.4 if faults else 0.9,
        faults=list(faults),
        peak_descent_mm_s=200,
    )
