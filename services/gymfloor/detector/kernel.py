"""The per-machine state machine that turns samples into reps and faults.

It runs once per sample, so it is compiled with numba; with numba's JIT disabled
(NUMBA_DISABLE_JIT=1) the same code is the plain per-sample loop the speed benchmark compares
against. It is pure: all of a machine's memory is one fixed-size structured record, and
findings leave through a preallocated event array. docs/DETECTION.md explains the method.

Positions are sled millimetres from lockout, so "deeper" means larger. Every signal is smoothed
over a moving window (smoothing.py), and each smoothed sample is stamped with the centre of its
window so that smoothing delays no reported time.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np

from gymfloor.detector import smoothing
from gymfloor.detector.timing import between, crossing_fraction, fill_levels, rest_time

RING = 256  # smoothing window slots: 0.25 s at 1000 Hz
HISTORY = 256  # smoothed positions kept for the descent speed
LEVELS = 1024  # 1 mm levels for timing a descent or a return, so reps up to about 1 m deep

# Phases of the rep state machine.
TOP, DESCENT, ASCENT = 0, 1, 2

# Fault bits, in contract order.
LIFTOFF, EXCESS_ROM, UNCONTROLLED = 1, 2, 4
FAULT_BITS = (LIFTOFF, EXCESS_ROM, UNCONTROLLED)

# Event rows: column 0 is the kind.
EVENT_WIDTH = 12
EV_FAULT, EV_REP, EV_ABANDONED, EV_SET_END = 1, 2, 3, 4
# EV_FAULT: 1 detection time (raw sample clock), 2 fault bit, 3 t_start of the rep.
# EV_REP: 1 t_start, 2 t_bottom, 3 t_end, 4 rom_mm, 5 eccentric_s, 6 concentric_s,
#         7 min lumbar ratio, 8 fault bits, 9 baseline kPa, 10 tilt onset position, 11 peak speed.
# EV_ABANDONED: 1 time. EV_SET_END: 1 time.

STATE_DTYPE = np.dtype(
    [
        # Sampling and smoothing.
        ("hz", "f8"),
        ("window", "i8"),
        ("last_t", "f8"),
        ("ring_i", "i8"),
        ("ring_n", "i8"),
        ("ring_sled", "f8", (RING,)),
        ("ring_lumbar", "f8", (RING,)),
        ("ring_sacral", "f8", (RING,)),
        ("sorted_lumbar", "f8", (RING,)),  # the lumbar window's valid samples, in order
        ("sum_sled", "f8"),
        ("sum_sacral", "f8"),
        ("n_sled", "i8"),
        ("n_lumbar", "i8"),
        ("n_sacral", "i8"),
        # The previous smoothed sample, for sub-sample level crossings.
        ("p_prev", "f8"),
        ("t_prev", "f8"),
        ("lumbar_prev", "f8"),
        # Descent speed.
        ("hist_i", "i8"),
        ("hist_n", "i8"),
        ("hist_p", "f8", (HISTORY,)),
        ("hist_t", "f8", (HISTORY,)),
        # Stillness.
        ("still_lo", "f8"),
        ("still_hi", "f8"),
        ("still_since", "f8"),
        # Where the next descent starts: the shallowest point since the last anchor.
        ("phase", "i8"),
        ("top", "f8"),
        ("t_top", "f8"),
        ("rest_sum", "f8"),
        ("rest_n", "i8"),
        ("anchor_lumbar", "f8"),
        ("peak", "f8"),
        ("t_peak", "f8"),
        ("desc_n", "i8"),
        ("desc_t", "f8", (LEVELS,)),  # first time the sled reached top + k mm
        # The rep under way.
        ("rep_top", "f8"),  # where the rep started: the rest level, for its depth
        ("t_start", "f8"),
        ("bottom", "f8"),
        ("t_bottom", "f8"),
        ("asc_n", "i8"),
        ("asc_t", "f8", (LEVELS,)),  # first time the sled rose k mm from the bottom
        ("top_progress", "f8"),
        ("t_top_progress", "f8"),
        ("baseline", "f8"),
        ("min_ratio", "f8"),
        ("onset", "f8"),
        ("liftoff_since", "f8"),
        ("peak_speed", "f8"),
        ("faults", "i8"),
        # Set and member.
        ("empty_since", "f8"),
        ("depth_limit", "f8"),
    ]
)

# numba throws a cached function away when the function's own file changes, but not when code
# it calls from another file does. The kernel compiles in smoothing.py and timing.py, so their
# digest is recorded here: while they differ from it the kernel is compiled afresh at every
# start (slow, never stale), and tests/unit/test_kernel_state.py asks for the digest to be
# brought up to date, which changes this file and so renews its cache.
HELPERS_DIGEST = "64dc08eafcc11737"


def helpers_digest() -> str:
    """Digest of the source of the modules the kernel compiles in."""
    digest = hashlib.sha256()
    for name in ("smoothing.py", "timing.py"):
        digest.update(Path(__file__).with_name(name).read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:16]


_jit = numba.njit(cache=helpers_digest() == HELPERS_DIGEST, nogil=True)

Record = np.void  # one element of a structured array: a machine's state, or the thresholds
Events = np.ndarray  # (rows, EVENT_WIDTH) float64


def new_state() -> np.ndarray:
    state = np.zeros(1, dtype=STATE_DTYPE)
    _init_state(state)
    return state


def new_events(max_samples: int) -> np.ndarray:
    """Room for every event one batch can cause: at most a few per sample."""
    return np.zeros((4 * max_samples + 16, EVENT_WIDTH), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Small pieces


@_jit
def _emit(out: Events, n: int, kind: int, a: float, b: float) -> int:
    if n < out.shape[0]:
        out[n, 0] = kind
        out[n, 1] = a
        out[n, 2] = b
    return n + 1


@_jit
def _emit_fault(s: Record, out: Events, n: int, t: float, bit: int) -> int:
    if n < out.shape[0]:
        out[n, 3] = s["t_start"]
    return _emit(out, n, EV_FAULT, t, bit)


@_jit
def _record_descent(s: Record, t: float, p: float, origin: float) -> None:
    s["desc_n"] = fill_levels(s["desc_t"], s["desc_n"], origin, 1.0, s["t_prev"], s["p_prev"], t, p)


@_jit
def _record_rise(s: Record, t: float, p: float) -> None:
    s["asc_n"] = fill_levels(
        s["asc_t"], s["asc_n"], s["bottom"], -1.0, s["t_prev"], s["p_prev"], t, p
    )


@_jit
def _set_bottom(s: Record, t: float, p: float) -> None:
    """A new deepest point: the return is measured from here."""
    s["bottom"] = p
    s["t_bottom"] = t
    s["asc_n"] = 1
    s["asc_t"][0] = t


@_jit
def _next_baseline(s: Record, c: Record) -> float:
    """The baseline the rep starting now would use, given the lumbar reading at its top."""
    base = s["baseline"]
    reading = s["anchor_lumbar"]
    if math.isnan(reading) or reading < c["empty_kpa"]:
        return base
    if math.isnan(base):
        return reading
    share = reading / base
    if share > c["baseline_retake_factor"] or share * c["baseline_retake_factor"] < 1.0:
        return reading  # someone else sat down, or the first reading came before they settled
    return base + c["baseline_follow"] * (reading - base)


@_jit
def _reset_rep_stats(s: Record) -> None:
    s["min_ratio"] = math.inf
    s["onset"] = math.nan
    s["liftoff_since"] = math.nan
    s["peak_speed"] = 0.0
    s["faults"] = 0


@_jit
def _restart_tracking(s: Record) -> None:
    """Forget the motion (after a gap or at start-up); the member and baseline stay."""
    s["window"] = 0  # the next batch starts the smoothing windows afresh
    s["p_prev"] = math.nan
    s["t_prev"] = math.nan
    s["lumbar_prev"] = math.nan
    s["still_lo"] = math.nan
    s["still_hi"] = math.nan
    s["still_since"] = math.nan
    s["phase"] = TOP
    _new_top(s, math.nan, math.inf)
    s["peak"] = -math.inf
    s["desc_n"] = 0
    s["asc_n"] = 0
    s["anchor_lumbar"] = math.nan
    _reset_rep_stats(s)


# ---------------------------------------------------------------------------------------------
# The rep state machine


@_jit
def _fault(s: Record, out: Events, n: int, bit: int, t: float) -> int:
    if s["faults"] & bit:
        return n
    s["faults"] |= bit
    if s["phase"] == TOP:  # not a rep yet: reported if the descent goes on to become one
        return n
    return _emit_fault(s, out, n, t, bit)


@_jit
def _judge_back(
    s: Record,
    c: Record,
    out: Events,
    n: int,
    t: float,
    t_raw: float,
    p: float,
    lumbar: float,
    base: float,
) -> int:
    """The lumbar rules. A ratio threshold is crossed somewhere between two samples: the
    crossing is placed on the straight line between them, else the tilt onset's position and
    a lift-off's duration would each be off by up to a sample (at 50 Hz, 20 ms and, near the
    bottom of a rep, about 2 mm)."""
    ratio = lumbar / base
    before = s["lumbar_prev"] / base
    s["min_ratio"] = min(s["min_ratio"], ratio)
    if ratio < c["tilt_ratio"] and math.isnan(s["onset"]):
        s["onset"] = between(s["p_prev"], p, crossing_fraction(before, ratio, c["tilt_ratio"]))
    if ratio < c["liftoff_ratio"]:
        if math.isnan(s["liftoff_since"]):
            crossed = crossing_fraction(before, ratio, c["liftoff_ratio"])
            s["liftoff_since"] = between(s["t_prev"], t, crossed)
        lasted = t - s["liftoff_since"]
    elif not math.isnan(s["liftoff_since"]):  # back above: it lasted until the crossing
        crossed = crossing_fraction(before, ratio, c["liftoff_ratio"])
        lasted = between(s["t_prev"], t, crossed) - s["liftoff_since"]
        s["liftoff_since"] = math.nan
    else:
        return n
    if lasted >= c["liftoff_min_s"] - 1e-9:
        n = _fault(s, out, n, LIFTOFF, t_raw)
    return n


@_jit
def _judge(
    s: Record,
    c: Record,
    out: Events,
    n: int,
    t: float,
    t_raw: float,
    p: float,
    lumbar: float,
    speed: float,
    base: float,
) -> int:
    """Apply the fault rules to one smoothed sample of the current (or prospective) rep."""
    if not math.isnan(lumbar) and not math.isnan(base) and base > 0.0:
        n = _judge_back(s, c, out, n, t, t_raw, p, lumbar, base)
    if (not math.isnan(s["onset"]) and p > s["onset"] + c["excess_mm"]) or (
        not math.isnan(s["depth_limit"]) and p > s["depth_limit"]
    ):
        n = _fault(s, out, n, EXCESS_ROM, t_raw)
    if s["phase"] != ASCENT:
        s["peak_speed"] = max(s["peak_speed"], speed)
        if speed > c["max_descent_mm_s"]:
            n = _fault(s, out, n, UNCONTROLLED, t_raw)
    return n


@_jit
def _new_top(s: Record, t: float, p: float) -> None:
    s["top"] = p
    s["t_top"] = t
    s["rest_sum"] = 0.0
    s["rest_n"] = 0


@_jit
def _rest_level(s: Record, c: Record) -> float:
    """Where the sled rests at the top: the mean of the samples near it, which unlike the
    lowest one is not pulled up by sensor noise. Never more than near_mm below the top."""
    if s["rest_n"] == 0:
        return s["top"]
    return min(s["top"] + c["near_mm"], s["rest_sum"] / s["rest_n"])


@_jit
def _anchor(s: Record, c: Record, t: float, p: float, lumbar: float) -> None:
    """The sled is at (or back near) the top: a descent from here would start now."""
    if p < _rest_level(s, c) - c["near_mm"]:
        _new_top(s, t, p)  # still coming up: the rest position is not reached yet
    elif p < s["top"]:
        s["top"] = p
        s["t_top"] = t
    s["rest_sum"] += p
    s["rest_n"] += 1
    s["peak"] = p
    s["t_peak"] = t
    s["desc_n"] = 0
    _record_descent(s, t, p, s["top"])
    if not math.isnan(lumbar):
        s["anchor_lumbar"] = lumbar


@_jit
def _track_next_start(s: Record, c: Record, t: float, p: float, lumbar: float) -> bool:
    """Follow the top and the first part of any descent from it. True if the sled is at the
    top, so that a descent would start from here."""
    rest = _rest_level(s, c)
    settled = t - s["still_since"] >= c["still_s"]
    if p <= rest + c["near_mm"] or (settled and s["peak"] - rest < c["rep_min_mm"]):
        if p > rest + c["near_mm"]:
            _new_top(s, t, p)  # settled at a new rest position, e.g. after moving the feet
        _anchor(s, c, t, p, lumbar)
        return True
    if p > s["peak"]:
        _record_descent(s, t, p, s["top"])
        s["peak"] = p
        s["t_peak"] = t
    return False


@_jit
def _start_descent(s: Record, c: Record, out: Events, n: int) -> int:
    """The sled went rep_min_mm below the top: this is a rep. Time its start, emit held faults."""
    rest = _rest_level(s, c)
    s["t_start"] = rest_time(
        s["desc_t"], s["desc_n"], rest - s["top"], 1.0, c, s["t_top"], -math.inf, math.inf
    )
    s["rep_top"] = rest
    s["baseline"] = _next_baseline(s, c)
    _set_bottom(s, s["t_peak"], s["peak"])
    s["phase"] = DESCENT
    for bit in FAULT_BITS:
        if s["faults"] & bit:
            n = _emit_fault(s, out, n, s["last_t"], bit)
    return n


@_jit
def _start_ascent(
    s: Record, c: Record, out: Events, n: int, t: float, t_raw: float, p: float, lumbar: float
) -> int:
    """The sled came back return_min_mm from the bottom: time the bottom, judge the descent."""
    depth = s["bottom"] - s["top"]  # the crossing table counts from the top
    t_deepest = s["t_bottom"]
    s["t_bottom"] = rest_time(
        s["desc_t"], s["desc_n"], depth, -1.0, c, t_deepest, -math.inf, t_deepest
    )
    s["phase"] = ASCENT
    if s["t_bottom"] - s["t_start"] < c["min_eccentric_s"]:
        n = _fault(s, out, n, UNCONTROLLED, t_raw)
    # From here the top tracker follows the return, ready for the next descent.
    _new_top(s, t, p)
    s["top_progress"] = p
    s["t_top_progress"] = t
    _anchor(s, c, t, p, lumbar)
    return n


@_jit
def _finish_rep(s: Record, c: Record, out: Events, n: int) -> int:
    """Report the rep: it has returned to the top and stopped, or the next descent began."""
    rise = s["bottom"] - s["top"]
    t_end = rest_time(s["asc_t"], s["asc_n"], rise, -1.0, c, s["t_top"], -math.inf, s["t_top"])
    t_leave = rest_time(s["asc_t"], s["asc_n"], 0.0, 1.0, c, s["t_bottom"], s["t_bottom"], t_end)
    if n < out.shape[0]:
        row = out[n]
        row[0] = EV_REP
        row[1] = s["t_start"]
        row[2] = s["t_bottom"]
        row[3] = t_end
        row[4] = s["bottom"] - s["rep_top"]
        row[5] = s["t_bottom"] - s["t_start"]
        row[6] = t_end - t_leave
        row[7] = s["min_ratio"] if s["min_ratio"] != math.inf else math.nan
        row[8] = s["faults"]
        row[9] = s["baseline"]
        row[10] = s["onset"]
        row[11] = s["peak_speed"]
    s["phase"] = TOP
    _reset_rep_stats(s)
    return n + 1


@_jit
def _interrupt(s: Record, c: Record, out: Events, n: int) -> int:
    """The data stops (gap, silence, flush): finish a returning rep, abandon a descending one."""
    if s["phase"] == ASCENT:
        n = _finish_rep(s, c, out, n)
    elif s["phase"] == DESCENT:
        n = _emit(out, n, EV_ABANDONED, s["last_t"], 0.0)
    _restart_tracking(s)
    return n


@_jit
def _on_sample(
    s: Record,
    c: Record,
    out: Events,
    n: int,
    t: float,
    t_raw: float,
    p: float,
    lumbar: float,
) -> int:
    """Advance the state machine by one smoothed sample."""
    # Still: every position since still_since lies within a band still_mm wide.
    lo, hi = min(p, s["still_lo"]), max(p, s["still_hi"])
    if hi - lo > c["still_mm"] or math.isnan(s["still_lo"]):
        lo = hi = p
        s["still_since"] = t
    s["still_lo"], s["still_hi"] = lo, hi
    speed = smoothing.descent_speed(s, c["speed_window_s"], t, p)
    pads_empty = _pads_empty_for(s, t, lumbar, c) >= c["empty_s"]
    phase = s["phase"]

    if phase == TOP:
        if _track_next_start(s, c, t, p, lumbar):
            _reset_rep_stats(s)
        n = _judge(s, c, out, n, t, t_raw, p, lumbar, speed, _next_baseline(s, c))
        if s["peak"] - _rest_level(s, c) >= c["rep_min_mm"]:
            n = _start_descent(s, c, out, n)
        elif pads_empty:
            n = _end_set(s, out, n, t)

    elif phase == DESCENT:
        if p > s["bottom"]:
            _record_descent(s, t, p, s["top"])
            _set_bottom(s, t, p)
        else:
            _record_rise(s, t, p)
        n = _judge(s, c, out, n, t, t_raw, p, lumbar, speed, s["baseline"])
        if s["bottom"] - p >= c["return_min_mm"]:
            n = _start_ascent(s, c, out, n, t, t_raw, p, lumbar)
        elif pads_empty and t - s["still_since"] >= c["empty_s"]:
            # The member got off, leaving the sled down (on its stops, say): that was no rep.
            n = _emit(out, n, EV_ABANDONED, t_raw, 0.0)
            n = _end_set(s, out, n, t)
            s["phase"] = TOP
            _new_top(s, t, p)
            _anchor(s, c, t, p, lumbar)
            _reset_rep_stats(s)

    else:  # ASCENT
        _record_rise(s, t, p)
        _track_next_start(s, c, t, p, lumbar)
        if p < s["top_progress"] - c["near_mm"]:
            s["top_progress"] = p
            s["t_top_progress"] = t
        # Once the sled stops rising the rep is back at the top: what the back does from then
        # on (the member may get up straight away) is no longer part of it.
        rising = t - s["t_top_progress"] < c["smoothing_s"]
        n = _judge(s, c, out, n, t, t_raw, p, lumbar, speed, s["baseline"] if rising else math.nan)
        next_descent = s["peak"] - _rest_level(s, c) >= c["far_mm"]
        if next_descent or t - s["t_top_progress"] >= c["still_s"]:
            n = _finish_rep(s, c, out, n)
            if next_descent:
                n = _judge(s, c, out, n, t, t_raw, p, lumbar, speed, _next_baseline(s, c))

    s["p_prev"] = p
    s["t_prev"] = t
    s["lumbar_prev"] = lumbar
    return n


@_jit
def _pads_empty_for(s: Record, t: float, lumbar: float, c: Record) -> float:
    """How long both pads (just the back pad on a machine without a seat pad) have been empty.
    The seat pad is smoothed only when the back pad is empty, the one time it matters."""
    if not math.isnan(lumbar) and lumbar < c["empty_kpa"]:
        sacral = smoothing.trimmed_mean(
            s["ring_sacral"], s["ring_n"], s["sum_sacral"], s["n_sacral"]
        )
        if math.isnan(sacral) or sacral < c["empty_kpa"]:
            if math.isnan(s["empty_since"]):
                s["empty_since"] = t
            return t - s["empty_since"]
    s["empty_since"] = math.nan
    return 0.0


@_jit
def _end_set(s: Record, out: Events, n: int, t: float) -> int:
    """The member stood up: whoever sits down next gets a fresh baseline."""
    if math.isnan(s["baseline"]):
        return n
    s["baseline"] = math.nan
    return _emit(out, n, EV_SET_END, t, 0.0)


# ---------------------------------------------------------------------------------------------
# Entry points


@_jit
def _init_state(state: np.ndarray) -> None:
    s = state[0]
    s["hz"] = math.nan
    s["last_t"] = math.nan
    s["baseline"] = math.nan
    s["empty_since"] = math.nan
    s["depth_limit"] = math.nan
    _restart_tracking(s)


@_jit
def step(
    state: np.ndarray,
    config: np.ndarray,
    t0: float,
    hz: float,
    sled: np.ndarray,
    lumbar: np.ndarray,
    sacral: np.ndarray,
    out: Events,
) -> int:
    """Feed one batch (arrays of equal length, NaN for dropped samples; `sacral` may be
    empty). Returns how many event rows were written to `out`."""
    s = state[0]
    c = config[0]
    n = 0
    dt = 1.0 / hz
    if not math.isnan(s["last_t"]):
        gap = t0 - s["last_t"] - dt
        if gap > c["max_gap_s"] or gap < -c["max_gap_s"]:
            n = _interrupt(s, c, out, n)
    if hz != s["hz"] or s["window"] == 0:
        # After a restart, or at a new rate (which changes what a window of samples means).
        s["hz"] = hz
        smoothing.restart(s, smoothing.window_size(c["smoothing_s"], hz, RING))
    has_sacral = sacral.shape[0] > 0
    for i in range(sled.shape[0]):
        t_raw = t0 + i * dt
        smoothing.push(s, sled[i], lumbar[i], sacral[i] if has_sacral else math.nan)
        s["last_t"] = t_raw
        filled = s["ring_n"]
        p = smoothing.trimmed_mean(s["ring_sled"], filled, s["sum_sled"], s["n_sled"])
        if math.isnan(p):
            continue
        lumbar_s = smoothing.median(s["sorted_lumbar"], s["n_lumbar"])
        t = t_raw - 0.5 * (filled - 1) * dt
        n = _on_sample(s, c, out, n, t, t_raw, p, lumbar_s)
    return n


@_jit
def interrupt(state: np.ndarray, config: np.ndarray, out: Events) -> int:
    """The machine's data ended (flush, eviction): settle the rep in progress."""
    return _interrupt(state[0], config[0], out, 0)


@_jit
def change_member(state: np.ndarray, depth_limit: float) -> None:
    """A member checked in or out: take the baseline afresh; apply the depth limit (NaN: none)."""
    s = state[0]
    s["baseline"] = math.nan
    s["depth_limit"] = depth_limit
