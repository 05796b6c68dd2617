"""The sensor-driver interface: what a hardware vendor implements to run gymfloor's edge agent.

A driver yields, in time order, `Frame`s of consecutive samples from the machine's sensors and
`SessionChange`s from its check-in reader (tag, app or button). The agent does the rest:
batching, sequence numbers, the boot id, presence, store-and-forward and the MQTT connection.
docs/EDGE.md walks through writing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from gymfloor.contract import VERSION, SessionPayload


@dataclass(frozen=True, slots=True)
class Frame:
    """Consecutive samples: sample `i` was taken at `t0 + i / hz` (Unix seconds, the device's
    clock). `None` (or NaN) is a sample the sensor failed to deliver. A frame may hold a single
    sample."""

    t0: float
    hz: float
    sled_mm: list[float | None]
    lumbar_kpa: list[float | None]
    sacral_kpa: list[float | None] | None = None
    load_kg: float | None = None

    def __post_init__(self) -> None:
        n = len(self.sled_mm)
        if (
            n == 0
            or len(self.lumbar_kpa) != n
            or (self.sacral_kpa is not None and len(self.sacral_kpa) != n)
        ):
            raise ValueError("a frame needs one or more samples, the same number per channel")

    @property
    def t_end(self) -> float:
        """When the sample after this frame's last one is due."""
        return self.t0 + len(self.sled_mm) / self.hz


@dataclass(frozen=True, slots=True)
class SessionChange:
    """A check-in, load change or check-out (docs/CONTRACT.md section 3)."""

    event: Literal["start", "load", "end"]
    t: float
    session_id: str
    member_id: str | None = None
    load_kg: float | None = None
    depth_limit_mm: float | None = None

    def payload(self) -> SessionPayload:
        return SessionPayload(
            v=VERSION,
            event=self.event,
            t=self.t,
            session_id=self.session_id,
            member_id=self.member_id,
            load_kg=self.load_kg,
            depth_limit_mm=self.depth_limit_mm,
        )


class SensorDriver(Protocol):
    """Implemented by each kind of machine. `readings()` blocks until data is available and
    ends when the driver is closed (or, for a recording, when it runs out)."""

    def readings(self) -> Iterator[Frame | SessionChange]: ...

    def close(self) -> None: ...
