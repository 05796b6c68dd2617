"""The kernel across versions: state saved with an older layout, compiled code in numba's cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gymfloor.contract import Fault
from gymfloor.detector import Detector, DetectorConfig, kernel
from gymfloor.detector.kernel import STATE_DTYPE
from gymfloor.detector.snapshot import MachinesSnapshot, unpack_state
from tests.support.synth import KEY, T0, Track, back_above, reports, run


def test_a_machine_saved_with_another_state_layout_starts_afresh() -> None:
    track = Track()
    track.back = back_above(20.0 + 280.0, 0.3)
    track.hold(1.0).rep(300.0)
    cut = len(track.sled)  # back at the top after the first rep
    batches = track.hold(1.0).rep(300.0).batches()
    before = [b for b in batches if b.t0 < T0 + cut / track.hz]
    first = Detector()
    outputs = [out for batch in before for out in first.telemetry(KEY, batch)]
    snapshot = first.snapshot()
    assert isinstance(snapshot.machines, MachinesSnapshot)
    machines = snapshot.machines.states()
    # As the version before the sorted lumbar window packed a machine: its bytes, no mark.
    names = [n for n in STATE_DTYPE.names or () if n not in ("sorted_lumbar", "lumbar_prev")]
    old = np.zeros(1, dtype=[(n, STATE_DTYPE[n]) for n in names] + [("sum_lumbar", "f8")])
    for machine in machines.values():
        for name in names:
            old[name] = machine.kernel_state[name]
        machine.kernel_state = unpack_state(old.tobytes())
        assert np.isnan(machine.kernel_state["baseline"][0])
    restored = Detector.restore(DetectorConfig(), replace(snapshot, machines=machines))
    found = reports(outputs + run(batches[len(before) :], restored))
    assert [r.faults for r in found] == [[Fault.LUMBAR_LIFTOFF], [Fault.LUMBAR_LIFTOFF]]
    assert all(r.rom_mm == pytest.approx(300.0, abs=2.0) for r in found)


def test_the_kernel_knows_the_code_it_compiles_in() -> None:
    # Else numba's cache of the kernel could hold older smoothing or timing code (see kernel.py).
    digest = kernel.helpers_digest()
    assert digest == kernel.HELPERS_DIGEST, f"set HELPERS_DIGEST in kernel.py to {digest!r}"
