"""NATS subjects of the contract's topics, and of the partitioned stream.

NATS's MQTT listener turns a topic's `/` into `.`: edge agents publish
`gymfloor/v1/{gym}/{machine}/telemetry`, which NATS carries as `gymfloor.v1.{gym}.{machine}.
telemetry`. Before it acknowledges a QoS 1 publish, the listener stores the message in its own
stream, `$MQTT_msgs`, as `$MQTT.msgs.gymfloor.v1.{gym}.{machine}.telemetry`. The partitioned
stream sources from there, through a durable consumer that lets a message go only once the
stream holds it, and stores each under `gymfloor.partition.{p}.{gym}.{machine}.telemetry`, p a
hash of (gym, machine), so that a partition's consumer reads its machines' messages, each
machine's in order.
"""

from __future__ import annotations

from gymfloor.contract import INGEST_CHANNELS
from gymfloor.contract.topics import PREFIX

PREFIX_SUBJECT = PREFIX.replace("/", ".")
MQTT_MESSAGES_STREAM = "$MQTT_msgs"
"""NATS's MQTT listener's stream of QoS 1 messages (its name and subjects are the server's)."""
MQTT_STORED = "$MQTT.msgs"
CAPTURE_CONSUMER = "gymfloor-capture"
CAPTURE_DELIVERY = "gymfloor.capture"
"""Where the capture consumer pushes to; the partitioned stream alone listens there."""
PARTITIONED = "gymfloor.partition"
_PARTITIONED_TOKENS = PARTITIONED.count(".") + 2  # the prefix's tokens and the partition's
PRIORITY_GROUP = "ingest"


def capture_filters() -> list[str]:
    """What the stream takes from the listener's: what edge agents publish (telemetry, session,
    status)."""
    return [f"{MQTT_STORED}.{PREFIX_SUBJECT}.*.*.{channel}" for channel in INGEST_CHANNELS]


def partition_transform(partitions: int) -> dict[str, str]:
    """The source's subject transform: (gym, machine) hashed to a partition."""
    return {
        "src": f"{MQTT_STORED}.{PREFIX_SUBJECT}.*.*.*",
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
