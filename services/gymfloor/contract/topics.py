"""MQTT topic names of docs/CONTRACT.md section 1: `gymfloor/v1/{gym_id}/{machine_id}/...`."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

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


class MachineKey(NamedTuple):
    """A machine is identified by its gym and its own id, both taken from the topic. A tuple:
    it is a dictionary key on every message, and a tuple hashes and compares in C."""

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


_CHANNELS = {channel.value: channel for channel in MachineChannel}
"""A lookup, not MachineChannel(name): that call costs a microsecond on every message."""


class TopicError(ValueError):
    """The topic is not one of the contract's machine topics."""


_MACHINE_TOPIC = re.compile(
    rf"{PREFIX}/(?P<gym>{ID_PATTERN.pattern})/(?P<machine>{ID_PATTERN.pattern})/(?P<channel>[a-z]+)"
)


@lru_cache(maxsize=1 << 16)  # every message's topic, over and over; a bad one is not kept
def parse_machine_topic(topic: str) -> tuple[MachineKey, MachineChannel]:
    """Split `gymfloor/v1/{gym}/{machine}/{channel}` into its machine and channel."""
    match = _MACHINE_TOPIC.fullmatch(topic)
    if match is None:
        raise TopicError(
            f"topic {topic!r} is not gymfloor/v1/{{gym_id}}/{{machine_id}}/{{channel}}"
        )
    channel = _CHANNELS.get(match["channel"])
    if channel is None:
        raise TopicError(f"topic {topic!r} has unknown channel {match['channel']!r}")
    return MachineKey(match["gym"], match["machine"]), channel
