"""The moving windows that smooth each signal before any rule sees it.

These work on a machine's record (kernel.STATE_DTYPE): its rings of the last `window` raw
samples per channel and their running sums and counts. Compiled with numba like the kernel.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

Record = np.void  # a machine's state: one element of a kernel.STATE_DTYPE array


@_jit
def window_size(smoothing_s: float, hz: float, ring: int) -> int:
    """Samples in the smoothing window. At least three where three still span about the
    smoothing time (from 15 Hz up at 0.1 s), so that the trimmed mean can out-vote a wild one;
    below that, stretching the window would flatten the bottom of a fast rep."""
    window = max(1, round(smoothing_s * hz))
    if window < 3 and 3.0 / hz <= 2.0 * smoothing_s:
        window = 3
    return min(ring, window)


@_jit
def restart(s: Record, window: int) -> None:
    """Empty the windows: the next sample starts them afresh."""
    s["window"] = window
    s["ring_i"] = s["ring_n"] = 0
    s["sum_sled"] = s["sum_lumbar"] = s["sum_sacral"] = 0.0
    s["n_sled"] = s["n_lumbar"] = s["n_sacral"] = 0


@_jit
def push(s: Record, x_sled: float, x_lumbar: float, x_sacral: float) -> None:
    """Slide the moving-average window by one sample; NaN (dropped) samples do not count."""
    w = s["window"]
    i = s["ring_i"]
    ring_sled, ring_lumbar, ring_sacral = s["ring_sled"], s["ring_lumbar"], s["ring_sacral"]
    if s["ring_n"] == w:
        old = ring_sled[i]
        if not math.isnan(old):
            s["sum_sled"] -= old
            s["n_sled"] -= 1
        old = ring_lumbar[i]
        if not math.isnan(old):
            s["sum_lumbar"] -= old
            s["n_lumbar"] -= 1
        old = ring_sacral[i]
        if not math.isnan(old):
            s["sum_sacral"] -= old
            s["n_sacral"] -= 1
    else:
        s["ring_n"] += 1
    ring_sled[i] = x_sled
    ring_lumbar[i] = x_lumbar
    ring_sacral[i] = x_sacral
    if not math.isnan(x_sled):
        s["sum_sled"] += x_sled
        s["n_sled"] += 1
    if not math.isnan(x_lumbar):
        s["sum_lumbar"] += x_lumbar
        s["n_lumbar"] += 1
    if not math.isnan(x_sacral):
        s["sum_sacral"] += x_sacral
        s["n_sacral"] += 1
    s["ring_i"] = (i + 1) % w


@_jit
def trimmed_mean(ring: np.ndarray, filled: int, total: float, count: int) -> float:
    """Mean of the window without its highest and lowest sample, so that one wild sample
    moves nothing; NaN when the window holds no sample at all."""
    if count < 3:
        return total / count if count > 0 else math.nan
    lo, hi = math.inf, -math.inf
    for k in range(filled):
        x = ring[k]
        if x < lo:
            lo = x
        if x > hi:
            hi = x
    return (total - lo - hi) / (count - 2)
