"""MQTT topic names of contract section 1: `gymfloor/v1/{gym_id}/{machine_id}/...`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "gymfloor/v1"
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class MachineChannel(StrEnum):
    """The per-machine topics, by their last level. The contract's four come first; `reps` and
    `rejected` are gymfloor's additions (ingest → all)."""

    TELEMETRY = "telemetry"
    SESSION = "session"
    STATUS = "status"
    FEEDBACK = "feedback"
    REPS = "reps"
    REJECTED = "rejected"


INGEST_CHANNELS = (MachineChannel.TELEMETRY, MachineChannel.SESSION, MachineChannel.STATUS)
"""What edge agents publish and the ingest service reads."""


@dataclass(frozen=True, slots=True, order=True)
class MachineKey:
    """A machine is identified by its gym and its own id, both taken from the topic."""

    gym_id: str
    machine_id: str

    def topic(self, channel: MachineChannel) -> str:
        return f"{PREFIX}/{self.gym_id}/{self.machine_id}/{channel}"

    def __str__(self) -> str:
        return f"{self.gym_id}/{self.machine_id}"


def alerts_topic(gym_id: str) -> str:
    return f"{PREFIX}/{gym_id}/alerts"


def machine_filter(channel: MachineChannel, gym_id: str = "+") -> str:
    """The subscription for one channel of every machine (of one gym, or of all)."""
    return f"{PREFIX}/{gym_id}/+/{channel}"


class TopicError(ValueError):
    """The topic is not one of the contract's machine topics."""


_MACHINE_TOPIC = re.compile(
    rf"{PREFIX}/(?P<gym>{ID_PATTERN.pattern})/(?P<machine>{ID_PATTERN.pattern})/(?P<channel>[a-z]+)"
)


def parse_machine_topic(topic: str) -> tuple[MachineKey, MachineChannel]:
    """Split `gymfloor/v1/{gym}/{machine}/{channel}` into its machine and channel."""
    match = _MACHINE_TOPIC.fullmatch(topic)
    if match is None:
        raise TopicError(
            f"topic {topic!r} is not gymfloor/v1/{{gym_id}}/{{machine_id}}/{{channel}}"
        )
    try:
        channel = MachineChannel(match["channel"])
    except ValueError:
        raise TopicError(f"topic {topic!r} has unknown channel {match['channel']!r}") from None
    return MachineKey(match["gym"], match["machine"]), channel
