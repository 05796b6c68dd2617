"""When the sled passed a level, and when it was at rest: the kernel's timing pieces.

A crossing table holds, for each whole millimetre k away from an origin, the first time the
sled got that far (interpolated between samples). `rest_time` fits the start (or end) of a
movement to such a table. Compiled with numba like the kernel that calls them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

Record = np.void  # the thresholds: one element of DetectorConfig.kernel_record()


@_jit
def crossing_time(t_prev: float, p_prev: float, t: float, p: float, level: float) -> float:
    """When the straight line from the previous sample to this one passes `level`."""
    if math.isnan(p_prev) or p == p_prev:
        return t
    frac = (level - p_prev) / (p - p_prev)
    return t_prev + min(1.0, max(0.0, frac)) * (t - t_prev)


@_jit
def crossing_fraction(before: float, now: float, level: float) -> float:
    """How far (0..1) from the previous sample to this one a signal going from `before` to
    `now` passed `level`: 1 (this sample) if `before` is unknown or already past it."""
    if math.isnan(before) or (before - level) * (now - level) > 0.0 or before == now:
        return 1.0
    return (level - before) / (now - before)


@_jit
def between(previous: float, current: float, fraction: float) -> float:
    """The value `fraction` of the way from the previous sample's to this one's."""
    if fraction >= 1.0:
        return current  # also when there was no previous sample (NaN)
    return previous + fraction * (current - previous)


@_jit
def fill_levels(
    table: np.ndarray,
    filled: int,
    origin: float,
    sign: float,
    t_prev: float,
    p_prev: float,
    t: float,
    p: float,
) -> int:
    """Stamp the levels (whole mm from `origin` in direction `sign`) that the sled passed
    for the first time between the previous sample and this one. Returns the new count."""
    reached = min(math.floor(sign * (p - origin)), table.shape[0] - 1)
    for k in range(filled, reached + 1):
        table[k] = crossing_time(t_prev, p_prev, t, p, origin + sign * k)
    return max(filled, reached + 1)


@_jit
def level_time(table: np.ndarray, filled: int, level: float) -> float:
    """First time a fractional level was reached, or NaN if it never was."""
    if level < 0.0:
        return math.nan
    k = math.floor(level)
    if k + 1 < filled:
        return table[k] + (level - k) * (table[k + 1] - table[k])
    if k < filled:
        return table[k]
    return math.nan


# Candidate exponents k for motion from rest, distance ~ time**k: 1 is a steady speed,
# 2 a steady acceleration, 3 the gentlest start of a smooth human movement.
EXPONENTS = (1.0, 1.5, 2.0, 2.5, 3.0)


@_jit
def rest_time(
    table: np.ndarray,
    filled: int,
    origin: float,
    sign: float,
    c: Record,
    fallback: float,
    lo: float,
    hi: float,
) -> float:
    """When the sled was at rest at level `origin` of a crossing table.

    It fits time = t0 + a * d**(1/k) to the crossing times of every millimetre d from near_mm
    to far_mm away from `origin` (in direction `sign`), for each candidate k, and returns the
    t0 of the best fit. Fitting many levels averages out sensor noise; trying several k keeps
    a steady creep and a smooth start alike from being timed late or early.
    """
    t_near = level_time(table, filled, origin + sign * c["near_mm"])
    if math.isnan(t_near):
        return fallback
    distance = np.arange(int(c["near_mm"]), int(c["far_mm"]) + 1).astype(np.float64)
    crossed = np.empty_like(distance)
    for i in range(distance.size):
        crossed[i] = level_time(table, filled, origin + sign * distance[i])
    known = ~np.isnan(crossed)
    distance, crossed = distance[known], crossed[known]
    best_t0, best_error = t_near, math.inf
    for k in EXPONENTS:
        x = distance ** (1.0 / k)
        # Least squares line through (x, crossed); its value at x = 0 is t0.
        spread = np.sum((x - x.mean()) ** 2)
        if distance.size < 3 or spread <= 0.0:
            break
        slope = np.sum((x - x.mean()) * (crossed - crossed.mean())) / spread
        t0 = crossed.mean() - slope * x.mean()
        error = np.sum((crossed - t0 - slope * x) ** 2)
        if error < best_error:
            best_t0, best_error = t0, error
    # Rest lies beyond the near crossing (before it when leaving, after it when arriving), but
    # no further than the gentlest start allowed (the largest k) puts it: noise can bend a
    # fit, never that far.
    t_far = level_time(table, filled, origin + sign * c["far_mm"])
    gentlest = (c["near_mm"] / c["far_mm"]) ** (1.0 / EXPONENTS[-1])
    limit = t_near + (t_near - t_far) * gentlest / (1.0 - gentlest)
    if math.isnan(limit):
        limit = t_near
    best_t0 = min(max(best_t0, min(t_near, limit)), max(t_near, limit))
    return min(hi, max(lo, best_t0))
