"""The stream, its consumers and buckets, created or brought up to date by every worker on start.

Declaring is idempotent: several workers starting together all send the same configuration,
and the server keeps one. Changing the number of partitions of a stream that exists is refused,
because each partition's checkpoint holds its machines.

- consumer `gymfloor-capture` on NATS's MQTT listener's stream `$MQTT_msgs`: what edge agents
  publish, pushed to the stream GYMFLOOR, which acknowledges it once stored (flow control);
- stream GYMFLOOR: those messages, under partitioned subjects (`subjects.py`);
- consumer `ingest-p{n}` per partition: pull, priority group `ingest`, policy `pinned_client`,
  so one worker at a time gets a partition's messages, and another once it stops asking;
- key-value bucket `gymfloor-partitions`: per partition, its owner and its last checkpoint;
- object store `gymfloor-checkpoints`: the checkpoints themselves (megabytes each);
- key-value bucket `gymfloor-workers`: a key per live worker, which expires when it dies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from nats.aio.client import Client
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType

from gymfloor.ingest.errors import StartupError
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.ingest.jetstream.subjects import (
    CAPTURE_CONSUMER,
    CAPTURE_DELIVERY,
    MQTT_MESSAGES_STREAM,
    PRIORITY_GROUP,
    capture_filters,
    consumer_name,
    partition_filter,
    partition_transform,
)

log = logging.getLogger("gymfloor.ingest")

PARTITIONS_BUCKET = "gymfloor-partitions"
CHECKPOINTS_BUCKET = "gymfloor-checkpoints"
WORKERS_BUCKET = "gymfloor-workers"
NS = 1_000_000_000
STREAM_EXISTS = 10058
STREAM_NOT_FOUND = 10059
CONSUMER_EXISTS = 10148
MAX_WAITING = 512
"""Pull requests a consumer holds: one or two per worker."""
CAPTURE_IN_FLIGHT = 65_536
"""Messages the capture consumer may push before the stream acknowledges them."""
MQTT_STREAMS_WAIT_S = 60.0
"""How long to wait for NATS's MQTT listener to make its streams (at its first session: the
worker's own publisher's)."""


class TopologyError(StartupError):
    """JetStream refused the stream, a consumer or a bucket."""


async def declare(client: Client, config: NatsConfig) -> None:
    await _capture(client)
    await _stream(client, config)
    for partition in range(config.partitions):
        await _consumer(client, config, partition)
    js = client.jetstream()
    storage = StorageType.FILE
    await js.create_key_value(
        KeyValueConfig(
            bucket=PARTITIONS_BUCKET, history=1, storage=storage, replicas=config.replicas
        )
    )
    await js.create_key_value(
        KeyValueConfig(
            bucket=WORKERS_BUCKET,
            history=1,
            ttl=3 * config.heartbeat_s,
            storage=StorageType.MEMORY,
            replicas=config.replicas,
        )
    )
    await js.create_object_store(
        CHECKPOINTS_BUCKET, ObjectStoreConfig(storage=storage, replicas=config.replicas)
    )
    log.info(
        "stream %s ready: %d partitions, %d replicas",
        config.stream,
        config.partitions,
        config.replicas,
    )


async def _capture(client: Client) -> None:
    """NATS's MQTT listener acknowledges a QoS 1 publish once its own stream, `$MQTT_msgs`,
    holds the message. That stream keeps a message only while a consumer wants it: this durable
    one does, until the partitioned stream has stored it. A stream capturing the subjects
    directly would lose what arrives while it elects a leader."""
    listener_stream = await _mqtt_messages_stream(client)
    await _durable_consumer(
        client,
        MQTT_MESSAGES_STREAM,
        {
            "durable_name": CAPTURE_CONSUMER,
            "deliver_subject": CAPTURE_DELIVERY,
            "filter_subjects": capture_filters(),
            "deliver_policy": "all",
            "ack_policy": "flow_control",
            "flow_control": True,
            "idle_heartbeat": NS,  # what the server requires of this acknowledgement policy
            "max_ack_pending": CAPTURE_IN_FLIGHT,
            # A consumer of a stream kept by interest has the stream's replicas.
            "num_replicas": listener_stream["config"]["num_replicas"],
        },
    )


async def _mqtt_messages_stream(client: Client) -> dict[str, Any]:
    deadline = time.monotonic() + MQTT_STREAMS_WAIT_S
    subject = f"STREAM.INFO.{MQTT_MESSAGES_STREAM}"
    while (info := await _api(client, subject, {}, allow=STREAM_NOT_FOUND)).get("error"):
        if time.monotonic() > deadline:
            raise TopologyError(
                f"NATS's MQTT listener made no stream {MQTT_MESSAGES_STREAM} in "
                f"{MQTT_STREAMS_WAIT_S:.0f} s: is MQTT enabled on the cluster, and does "
                "GYMFLOOR_MQTT_URL name its listener?"
            )
        await asyncio.sleep(0.5)
    return info


async def _stream(client: Client, config: NatsConfig) -> None:
    transform = partition_transform(config.partitions)
    stream = {
        "name": config.stream,
        "sources": [
            {
                "name": MQTT_MESSAGES_STREAM,
                "consumer": {"name": CAPTURE_CONSUMER, "deliver_subject": CAPTURE_DELIVERY},
                "subject_transforms": [transform],
            }
        ],
        "storage": "file",
        "retention": "limits",
        "discard": "old",
        "max_age": int(config.retention_s * NS),
        "num_replicas": config.replicas,
        "allow_direct": True,
    }
    response = await _api(client, f"STREAM.CREATE.{config.stream}", stream, allow=STREAM_EXISTS)
    if response.get("error"):
        existing = await _api(client, f"STREAM.INFO.{config.stream}", {})
        partitioned_as = _partitioning(existing["config"])
        if partitioned_as != transform["dest"]:
            raise TopologyError(
                f"stream {config.stream} partitions its subjects as {partitioned_as!r}; "
                f"changing to {config.partitions} partitions would mix up their checkpoints"
            )
        await _api(client, f"STREAM.UPDATE.{config.stream}", stream)


def _partitioning(stream: dict[str, Any]) -> str | None:
    """The destination of the stream's partitioning transform, wherever it is configured."""
    transforms = [
        t for source in stream.get("sources") or [] for t in source.get("subject_transforms") or []
    ]
    transforms.append(stream.get("subject_transform") or {})
    return transforms[0].get("dest")


async def _consumer(client: Client, config: NatsConfig, partition: int) -> None:
    await _durable_consumer(
        client,
        config.stream,
        {
            "durable_name": consumer_name(partition),
            "filter_subject": partition_filter(partition),
            "deliver_policy": "all",
            # Nothing is acknowledged to the consumer: a partition's checkpoint says how far it
            # was processed, and a new owner reads the stream from there (`intake.py`).
            "ack_policy": "none",
            "max_waiting": MAX_WAITING,
            "priority_groups": [PRIORITY_GROUP],
            "priority_policy": "pinned_client",
            "priority_timeout": int(config.pin_ttl_s * NS),
        },
    )


async def _durable_consumer(client: Client, stream: str, consumer: dict[str, Any]) -> None:
    """Created, or brought up to date if it exists."""
    request = {"stream_name": stream, "config": consumer}
    subject = f"CONSUMER.CREATE.{stream}.{consumer['durable_name']}"
    response = await _api(client, subject, request, allow=CONSUMER_EXISTS)
    if response.get("error"):
        await _api(client, subject, {**request, "action": "update"})


async def _api(
    client: Client, subject: str, body: dict[str, Any], allow: int | None = None
) -> dict[str, Any]:
    """A JetStream API request; its error raises, but for the code `allow`, which is returned."""
    reply = await client.request(f"$JS.API.{subject}", json.dumps(body).encode(), timeout=10.0)
    response: dict[str, Any] = json.loads(reply.data)
    error = response.get("error")
    if error and error.get("err_code") != allow:
        raise TopologyError(f"{subject}: {error.get('description')} ({error.get('err_code')})")
    return response
