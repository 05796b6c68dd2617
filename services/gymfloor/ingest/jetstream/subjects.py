"""NATS subjects of the contract's topics, and of the partitioned stream.

NATS's MQTT listener turns a topic's `/` into `.`: edge agents publish
`gymfloor/v1/{gym}/{machine}/telemetry`, which NATS carries as `gymfloor.v1.{gym}.{machine}.
telemetry`. The stream stores each such message under a partitioned subject,
`gymfloor.partition.{p}.{gym}.{machine}.telemetry`, p a hash of (gym, machine), so that a
partition's consumer reads its machines' messages, each machine's in order.
"""

from __future__ import annotations

from gymfloor.contract import INGEST_CHANNELS
from gymfloor.contract.topics import PREFIX

PREFIX_SUBJECT = PREFIX.replace("/", ".")
PARTITIONED = "gymfloor.partition"
_PARTITIONED_TOKENS = PARTITIONED.count(".") + 2  # the prefix's tokens and the partition's
PRIORITY_GROUP = "ingest"


def ingest_subjects() -> list[str]:
    """What the stream captures: what edge agents publish (telemetry, session, status)."""
    return [f"{PREFIX_SUBJECT}.*.*.{channel}" for channel in INGEST_CHANNELS]


def partition_transform(partitions: int) -> dict[str, str]:
    """The stream's subject transform: (gym, machine), tokens 3 and 4, hashed to a partition."""
    return {
        "src": f"{PREFIX_SUBJECT}.*.*.*",
        "dest": f"{PARTITIONED}.{{{{partition({partitions},1,2)}}}}"
        ".{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}",
    }


def partition_filter(partition: int) -> str:
    return f"{PARTITIONED}.{partition}.>"


def topic_of_stored(subject: str) -> str:
    """The contract topic of a message as the stream stored it."""
    machine_and_channel = subject.split(".", _PARTITIONED_TOKENS)[-1]
    return f"{PREFIX}/{machine_and_channel.replace('.', '/')}"


def consumer_name(partition: int) -> str:
    return f"ingest-p{partition}"
