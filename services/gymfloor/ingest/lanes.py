"""Messages waiting for the detector: one lane per machine, served in turn.

A machine that floods the broker only lengthens its own lane; every other machine's next
message is at most one turn away.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Queued(Generic[T]):
    segment: int
    """The journal segment the item was written to: a checkpoint waits for all of a segment."""
    item: T


class Lanes(Generic[T]):
    def __init__(self) -> None:
        self._lanes: dict[Hashable, deque[Queued[T]]] = {}
        self._turns: deque[Hashable] = deque()  # lanes with something waiting, in serving order
        self._size = 0
        self._changed = threading.Condition()

    def __len__(self) -> int:
        return self._size

    def put(self, lane: Hashable, segment: int, item: T) -> None:
        with self._changed:
            queue = self._lanes.get(lane)
            if queue is None:
                queue = self._lanes[lane] = deque()
            if not queue:
                self._turns.append(lane)
            queue.append(Queued(segment, item))
            self._size += 1
            self._changed.notify()

    def get(self, timeout: float, up_to_segment: int | None = None) -> T | None:
        """The next lane's oldest item, or None after `timeout` seconds with nothing to serve.
        With `up_to_segment`, only items written to that segment or before are served."""
        with self._changed:
            if not self._turns and timeout > 0:
                self._changed.wait(timeout)
            for _ in range(len(self._turns)):
                lane = self._turns.popleft()
                queue = self._lanes[lane]
                if up_to_segment is not None and queue[0].segment > up_to_segment:
                    self._turns.append(lane)
                    continue
                queued = queue.popleft()
                self._size -= 1
                self._changed.notify_all()  # a producer may be waiting for room
                if queue:
                    self._turns.append(lane)
                else:
                    del self._lanes[lane]
                return queued.item
            return None

    def wait_below(self, limit: int, timeout: float) -> bool:
        """Block until fewer than `limit` items wait; False if that did not happen in time."""
        with self._changed:
            return self._changed.wait_for(lambda: self._size < limit, timeout)
