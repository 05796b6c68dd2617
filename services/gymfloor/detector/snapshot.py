"""A consistent copy of every machine's detector state, taken without stopping the detector.

Copying thousands of machines' state at once would pause the floor for tens of milliseconds.
Instead the snapshot starts as a shallow list of the live states, and each machine is copied
the first time either side needs it: the detector before it changes that machine (`preserve`),
or whoever serialises the snapshot (`complete`, usually another thread). Either way the copy
is of the state as it stood when the snapshot was taken.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from copy import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gymfloor.contract import MachineKey

if TYPE_CHECKING:
    from gymfloor.detector.detector import MachineState


def copy_machine(state: MachineState) -> MachineState:
    return replace(
        state,
        kernel_state=state.kernel_state.copy(),
        session=copy(state.session),
        previous_session=copy(state.previous_session),
    )


class MachinesSnapshot(Mapping[MachineKey, "MachineState"]):
    def __init__(self, live: dict[MachineKey, MachineState]) -> None:
        self._uncopied = dict(live)  # still the detector's own objects
        self._copied: dict[MachineKey, MachineState] = {}
        self._lock = threading.Lock()

    def preserve(self, key: MachineKey) -> None:
        """The detector is about to change (or drop) this machine: copy it first if needed."""
        if key in self._uncopied:  # once copied (the usual case), no lock is needed
            with self._lock:
                state = self._uncopied.pop(key, None)
                if state is not None:
                    self._copied[key] = copy_machine(state)

    def complete(self) -> dict[MachineKey, MachineState]:
        """Every machine, copied. Safe from another thread while the detector runs."""
        while self._uncopied:
            with self._lock:
                if not self._uncopied:
                    break
                key, state = self._uncopied.popitem()
                self._copied[key] = copy_machine(state)
        return self._copied

    def __getitem__(self, key: MachineKey) -> MachineState:
        return self.complete()[key]

    def __iter__(self) -> Iterator[MachineKey]:
        return iter(self.complete())

    def __len__(self) -> int:
        return len(self._uncopied) + len(self._copied)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as the plain dict it stands for: a restored detector owns its states.
        return (dict, (self.complete(),))
