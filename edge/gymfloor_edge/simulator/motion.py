"""What a leg press and the member on it do over time, as noise-free signals.

A machine's timeline is a sequence of pieces (holding still, a rep, moving the feet), each
giving the sled position and the lumbar pressure ratio as functions of time, plus ramps of
the pad load as the member sits down and stands up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ease(tau: np.ndarray) -> np.ndarray:
    """Smooth 0→1 motion from rest to rest (half cosine), as a controlled human movement."""
    return 0.5 * (1.0 - np.cos(np.pi * np.clip(tau, 0.0, 1.0)))


@dataclass(frozen=True, slots=True)
class Tilt:
    """How the lumbar pressure falls once the pelvis starts to tuck."""

    depth_mm: float  # depth below the rep's top where the pelvis starts to tuck
    slope_per_mm: float  # share of the baseline lost per mm deeper than that

    def ratio(self, depth: np.ndarray) -> np.ndarray:
        past = np.maximum(0.0, depth - self.depth_mm)
        return np.clip(1.0 - self.slope_per_mm * past, 0.05, 1.0)


@dataclass(frozen=True, slots=True)
class Descent:
    """A descent of `depth_mm` over `duration_s`, optionally as a slow creep that then drops."""

    depth_mm: float
    duration_s: float
    creep_mm: float = 0.0  # travelled slowly first; 0 is one smooth movement
    creep_s: float = 0.0

    def depth(self, t: np.ndarray) -> np.ndarray:
        if self.creep_mm <= 0.0:
            return self.depth_mm * ease(t / self.duration_s)
        # Creep: ease into a slow speed, keep it, then let the sled fall the rest of the way.
        ramp_s = min(0.3, self.creep_s / 2)
        speed = self.creep_mm / (self.creep_s - ramp_s / 2)
        creep = np.where(
            t < ramp_s,
            speed * (t - ramp_s / np.pi * np.sin(np.pi * t / ramp_s)) / 2,
            speed * (ramp_s / 2 + (t - ramp_s)),
        )
        creep = np.minimum(creep, self.creep_mm)
        drop_s = self.duration_s - self.creep_s
        drop = self.creep_mm + (self.depth_mm - self.creep_mm) * ease((t - self.creep_s) / drop_s)
        return np.where(t < self.creep_s, creep, drop)


@dataclass(frozen=True, slots=True)
class Piece:
    """Sled motion over [t0, t0 + duration): a hold, a rep, or a foot adjustment."""

    t0: float
    duration_s: float
    top_mm: float
    descent: Descent | None = None  # None: hold still at top_mm
    bottom_pause_s: float = 0.0
    ascent_s: float = 0.0
    tilt: Tilt | None = None

    @property
    def t1(self) -> float:
        return self.t0 + self.duration_s

    @property
    def t_bottom(self) -> float:
        return self.t0 + (self.descent.duration_s if self.descent else 0.0)

    def depth(self, t: np.ndarray) -> np.ndarray:
        if self.descent is None:
            return np.zeros_like(t)
        local = t - self.t0
        down = self.descent.depth(local)
        up_start = self.descent.duration_s + self.bottom_pause_s
        up = self.descent.depth_mm * (1.0 - ease((local - up_start) / self.ascent_s))
        return np.where(local < up_start, down, up)

    def ratio(self, t: np.ndarray) -> np.ndarray:
        if self.tilt is None:
            return np.ones_like(t)
        return self.tilt.ratio(self.depth(t))


def movement(
    t0: float,
    top_mm: float,
    descent: Descent,
    pause_s: float,
    ascent_s: float,
    tilt: Tilt | None = None,
) -> Piece:
    """Down, a pause at the bottom, and back up to where it started."""
    duration = descent.duration_s + pause_s + ascent_s
    return Piece(t0, duration, top_mm, descent, pause_s, ascent_s, tilt)


@dataclass(slots=True)
class Timeline:
    """All pieces of one machine, in time order, with the pad load ramps."""

    pieces: list[Piece]
    seated: list[tuple[float, float, float]]  # (start, duration, target load 0..1) ramps
    baseline: list[tuple[float, float, float, float]]  # (t0, t1, kPa at t0, kPa at t1)
    rest_mm: float

    def sample(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sled position, lumbar ratio and seated share (0 empty .. 1 seated) at times t."""
        sled = np.full_like(t, self.rest_mm)
        ratio = np.ones_like(t)
        starts = np.array([p.t0 for p in self.pieces])
        index = np.searchsorted(starts, t, side="right") - 1
        for k in np.unique(index[index >= 0]):
            piece = self.pieces[k]
            mask = (index == k) & (t < piece.t1)
            sled[mask] = piece.top_mm + piece.depth(t[mask])
            ratio[mask] = piece.ratio(t[mask])
            # After a piece ends, the sled rests at its top until the next one starts.
            sled[(index == k) & (t >= piece.t1)] = piece.top_mm
        seated = np.zeros_like(t)
        for start, duration, target in self.seated:
            level = np.clip((t - start) / duration, 0.0, 1.0)
            after = t >= start
            seated[after] = seated[after] + (target - seated[after]) * ease(level[after])
        return sled, ratio, seated

    def baseline_kpa(self, t: np.ndarray) -> np.ndarray:
        kpa = np.zeros_like(t)
        for t0, t1, k0, k1 in self.baseline:
            inside = (t >= t0) & (t < t1)
            kpa[inside] = k0 + (k1 - k0) * (t[inside] - t0) / (t1 - t0)
        return kpa
