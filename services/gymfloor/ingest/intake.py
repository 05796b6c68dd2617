"""Where ingest's messages come from: the seam between a transport and the pipeline.

An intake delivers messages in batches, each machine's in order, and remembers them durably
until ingest acknowledges a position: what a crash loses in memory, the intake gives back on
the next start (`replay`). Positions are the intake's own (journal segments for MQTT); ingest
only passes them back.

    intake.replay(checkpoint.position)  → what came after the last checkpoint, again
    intake.start()                      → live messages from now on
    intake.take(limit, timeout)         → the next batch
    intake.cut()                        → a position: everything taken so far is at or before it
    intake.take_through(position, ...)  → what is still queued at or before it
    intake.acknowledge(position)        → a checkpoint covers it: forget it for good
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import msgspec


class Message(msgspec.Struct, frozen=True):
    """(A struct: one is made for every message, and a frozen dataclass takes several times as
    long to build.)"""

    topic: str
    payload: bytes
    received_at: float
    """Unix seconds when it reached ingest: the start of the detection latency."""


@dataclass(frozen=True, slots=True)
class IntakeHealth:
    connected: bool
    queued: int
    """Messages received and not yet taken by the pipeline."""
    errors: int
    """Messages that could not be kept durably (a full disk, say): a crash now would lose them."""


class Intake(Protocol):
    def replay(self, after: int | None) -> Iterator[Message]:
        """What was received after the checkpoint at `after` (None: no checkpoint yet)."""
        ...

    def start(self) -> None: ...

    def take(self, limit: int, timeout: float) -> list[Message]:
        """The next messages, at most `limit`; empty if none came within `timeout` seconds."""
        ...

    def cut(self) -> int:
        """A position covering every message delivered so far and those still queued."""
        ...

    def take_through(self, position: int, limit: int) -> list[Message]:
        """Queued messages at or before `position`, at most `limit`; empty once none are left."""
        ...

    def acknowledge(self, position: int) -> None:
        """A checkpoint now covers everything at or before `position`."""
        ...

    def stop(self) -> None:
        """Receive no more; what is queued can still be taken."""
        ...

    def close(self) -> None: ...

    def health(self) -> IntakeHealth: ...
