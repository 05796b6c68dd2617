"""A consistent snapshot of every machine's detector state, taken without stopping the detector.

Copying thousands of machines' state at once would pause the floor for tens of milliseconds.
Instead the snapshot starts as a shallow list of the live states, and each machine is frozen
(pickled) the first time either side needs it: the detector before it changes that machine
(`preserve`), or whoever writes the snapshot out (`drain`, usually another thread, which lets
go of each machine as soon as it is written). Either way what is kept is the state as it stood
when the snapshot was taken.

A machine pickles compactly (`pack_state`): of its two crossing-time tables (16 KiB of its
state) only the levels the current rep has reached are kept. The bytes are only meaningful in
the state layout that wrote them, so they start with a mark of it: a machine saved by a
version with another layout starts afresh, as after a gap, instead of being misread.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from gymfloor.contract import MachineKey
from gymfloor.detector import kernel

if TYPE_CHECKING:
    from gymfloor.detector.detector import MachineState

Frozen = bytes
"""A machine's state, pickled."""


def _table(name: str) -> tuple[int, int]:
    """The byte range of one of the state's crossing tables."""
    fields = kernel.STATE_DTYPE.fields
    assert fields is not None
    dtype, offset = fields[name][:2]
    return offset, offset + dtype.itemsize


_LAYOUT = hashlib.sha256(str(kernel.STATE_DTYPE.descr).encode()).digest()[:8]
_DESC, _DESC_END = _table("desc_t")
_ASC, _ASC_END = _table("asc_t")
_LEVEL_BYTES = (_DESC_END - _DESC) // kernel.LEVELS


def pack_state(state: np.ndarray) -> bytes:
    """The kernel's state without the unused tails of its crossing tables, which the kernel
    never reads (levels at and beyond `desc_n` and `asc_n`)."""
    raw = state.view(np.uint8)
    desc = int(state["desc_n"][0]) * _LEVEL_BYTES
    asc = int(state["asc_n"][0]) * _LEVEL_BYTES
    parts = (raw[: _DESC + desc], raw[_DESC_END : _ASC + asc], raw[_ASC_END:])
    return _LAYOUT + b"".join(part.tobytes() for part in parts)


def unpack_state(packed: bytes) -> np.ndarray:
    if packed[: len(_LAYOUT)] != _LAYOUT:
        return kernel.new_state()  # another version's layout: start afresh
    state = np.zeros(1, dtype=kernel.STATE_DTYPE)
    raw = state.view(np.uint8)
    source = np.frombuffer(packed, dtype=np.uint8, offset=len(_LAYOUT))
    raw[:_DESC] = source[:_DESC]  # the level counts come before their tables
    at = _DESC + int(state["desc_n"][0]) * _LEVEL_BYTES
    raw[_DESC:at] = source[_DESC:at]
    middle = _ASC - _DESC_END
    raw[_DESC_END:_ASC] = source[at : at + middle]
    at += middle
    asc = int(state["asc_n"][0]) * _LEVEL_BYTES
    raw[_ASC : _ASC + asc] = source[at : at + asc]
    raw[_ASC_END:] = source[at + asc :]
    return state


class MachinesSnapshot:
    def __init__(self, live: dict[MachineKey, MachineState]) -> None:
        self._unfrozen = dict(live)  # still the detector's own objects
        self._frozen: dict[MachineKey, Frozen] = {}
        self._lock = threading.Lock()

    def preserve(self, key: MachineKey) -> None:
        """The detector is about to change (or drop) this machine: freeze it first if needed."""
        if key in self._unfrozen:  # once frozen (the usual case), no lock is needed
            with self._lock:
                state = self._unfrozen.pop(key, None)
                if state is not None:
                    self._frozen[key] = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)

    def drain(self) -> Iterator[tuple[MachineKey, Frozen]]:
        """Every machine, frozen, once; safe from another thread while the detector runs. The
        snapshot holds none of them afterwards."""
        while True:
            with self._lock:
                if self._unfrozen:
                    key, state = self._unfrozen.popitem()
                    frozen = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
                elif self._frozen:
                    key, frozen = self._frozen.popitem()
                else:
                    return
            yield key, frozen

    def states(self) -> dict[MachineKey, MachineState]:
        """Every machine's state as of the snapshot, as objects of their own."""
        return {key: pickle.loads(frozen) for key, frozen in self.drain()}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as the plain dict it stands for: a restored detector owns its states.
        return (dict, (self.states(),))
