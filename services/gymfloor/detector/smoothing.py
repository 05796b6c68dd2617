"""The moving windows that smooth each signal before any rule sees it.

These work on a machine's record (kernel.STATE_DTYPE): its rings of the last `window` raw
samples per channel, their running sums and counts, the lumbar window kept in order, and the
recent smoothed positions the descent speed is measured over. Compiled with numba like the
kernel.

The sled position and the seat pad are averaged (leaving out the highest and the lowest
sample). The lumbar pressure takes the window's median instead: the back can leave the pad in
one step, and a mean turns a step into a ramp as long as the window, so a threshold between
the two levels would be crossed up to half a window early or late depending on where it lies
between them. The median of a step steps at the step's own time, whatever the threshold, and
on a steady slope it is the centre sample, as the mean is.
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
    """Empty the windows (and the speed history): the next sample starts them afresh."""
    s["window"] = window
    s["ring_i"] = s["ring_n"] = 0
    s["sum_sled"] = s["sum_sacral"] = 0.0
    s["n_sled"] = s["n_lumbar"] = s["n_sacral"] = 0
    s["hist_i"] = s["hist_n"] = 0


@_jit
def push(s: Record, x_sled: float, x_lumbar: float, x_sacral: float) -> None:
    """Slide the windows by one sample; NaN (dropped) samples do not count."""
    w = s["window"]
    i = s["ring_i"]
    ring_sled, ring_lumbar, ring_sacral = s["ring_sled"], s["ring_lumbar"], s["ring_sacral"]
    old_lumbar = math.nan
    if s["ring_n"] == w:
        old = ring_sled[i]
        if not math.isnan(old):
            s["sum_sled"] -= old
            s["n_sled"] -= 1
        old_lumbar = ring_lumbar[i]
        old = ring_sacral[i]
        if not math.isnan(old):
            s["sum_sacral"] -= old
            s["n_sacral"] -= 1
    else:
        s["ring_n"] += 1
    ring_sled[i] = x_sled
    ring_lumbar[i] = x_lumbar
    ring_sacral[i] = x_sacral
    s["n_lumbar"] = _replace_sorted(s["sorted_lumbar"], s["n_lumbar"], old_lumbar, x_lumbar)
    if not math.isnan(x_sled):
        s["sum_sled"] += x_sled
        s["n_sled"] += 1
    if not math.isnan(x_sacral):
        s["sum_sacral"] += x_sacral
        s["n_sacral"] += 1
    s["ring_i"] = _next_slot(i, w)


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


@_jit
def median(ordered: np.ndarray, count: int) -> float:
    """Median of the first `count` values of an ordered array; NaN if there are none."""
    if count == 0:
        return math.nan
    half = count // 2
    if count % 2:
        return ordered[half]
    return 0.5 * (ordered[half - 1] + ordered[half])


@_jit
def _replace_sorted(ordered: np.ndarray, count: int, old: float, new: float) -> int:
    """Keep `ordered[:count]` sorted as `old` leaves the window and `new` enters it (either
    may be NaN: none). Returns the new count. Positions are found by counting the entries
    below each value: over the few samples of a window a loop with no branch to mispredict
    measured faster than a binary search."""
    if math.isnan(old) and math.isnan(new):
        return count
    i = count  # the slot `old` frees (the first entry equal to it), or a new one at the end
    j = 0  # where `new` goes: the number of entries below it
    for k in range(count):
        i -= ordered[k] >= old  # never true for a NaN `old`
        j += ordered[k] < new
    if math.isnan(new):
        j = count
    count += math.isnan(old) - math.isnan(new)
    if j > i:  # above the freed slot: the entries in between move down one
        for k in range(i, j - 1):
            ordered[k] = ordered[k + 1]
        ordered[j - 1] = new  # a NaN `new` lands past the (shorter) end
    else:  # at or below it: they move up one
        for k in range(i, j, -1):
            ordered[k] = ordered[k - 1]
        ordered[j] = new
    return count


@_jit
def descent_speed(s: Record, window_s: float, t: float, p: float) -> float:
    """Speed over the last `window_s`, in mm/s deeper; also remembers this smoothed sample."""
    history = s["hist_p"].shape[0]
    k = min(history - 1, max(1, round(window_s * s["hz"])))
    i = s["hist_i"]
    s["hist_p"][i] = p
    s["hist_t"][i] = t
    s["hist_i"] = _next_slot(i, history)
    s["hist_n"] = min(history, s["hist_n"] + 1)
    if s["hist_n"] <= k:
        return 0.0
    j = i - k if i >= k else i - k + history
    dt = t - s["hist_t"][j]
    return (p - s["hist_p"][j]) / dt if dt > 0.0 else 0.0


@_jit
def _next_slot(i: int, size: int) -> int:
    """The ring slot after `i`: a comparison, where a modulo by a size known only at run time
    would be an integer division, several times slower."""
    return i + 1 if i + 1 < size else 0
