"""The stream, its consumers and buckets, created or brought up to date by every worker on start.

Declaring is idempotent: several workers starting together all send the same configuration,
and the server keeps one. Changing the number of partitions of a stream that exists is refused,
because each partition's checkpoint holds its machines.

- stream GYMFLOOR: what edge agents publish, stored under partitioned subjects (`subjects.py`);
- consumer `ingest-p{n}` per partition: pull, priority group `ingest`, policy `pinned_client`,
  so one worker at a time gets a partition's messages, and another once it stops asking;
- key-value bucket `gymfloor-partitions`: per partition, its owner and its last checkpoint;
- object store `gymfloor-checkpoints`: the checkpoints themselves (megabytes each);
- key-value bucket `gymfloor-workers`: a key per live worker, which expires when it dies.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.aio.client import Client
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType

from gymfloor.ingest.errors import StartupError
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.ingest.jetstream.subjects import (
    PRIORITY_GROUP,
    consumer_name,
    ingest_subjects,
    partition_filter,
    partition_transform,
)

log = logging.getLogger("gymfloor.ingest")

PARTITIONS_BUCKET = "gymfloor-partitions"
CHECKPOINTS_BUCKET = "gymfloor-checkpoints"
WORKERS_BUCKET = "gymfloor-workers"
NS = 1_000_000_000
STREAM_EXISTS = 10058
CONSUMER_EXISTS = 10148
MAX_WAITING = 512
"""Pull requests a consumer holds: one or two per worker."""


class TopologyError(StartupError):
    """JetStream refused the stream, a consumer or a bucket."""


async def declare(client: Client, config: NatsConfig) -> None:
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


async def _stream(client: Client, config: NatsConfig) -> None:
    stream = {
        "name": config.stream,
        "subjects": ingest_subjects(),
        "subject_transform": partition_transform(config.partitions),
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
        transform = existing["config"].get("subject_transform") or {}
        if transform.get("dest") != stream["subject_transform"]["dest"]:  # type: ignore[index]
            raise TopologyError(
                f"stream {config.stream} partitions its subjects as {transform.get('dest')!r}; "
                f"changing to {config.partitions} partitions would mix up their checkpoints"
            )
        await _api(client, f"STREAM.UPDATE.{config.stream}", stream)


async def _consumer(client: Client, config: NatsConfig, partition: int) -> None:
    name = consumer_name(partition)
    consumer: dict[str, Any] = {
        "durable_name": name,
        "filter_subject": partition_filter(partition),
        "deliver_policy": "all",
        # Nothing is acknowledged to the consumer: a partition's checkpoint says how far it was
        # processed, and a new owner reads the stream from there (`intake.py`).
        "ack_policy": "none",
        "max_waiting": MAX_WAITING,
        "priority_groups": [PRIORITY_GROUP],
        "priority_policy": "pinned_client",
        "priority_timeout": int(config.pin_ttl_s * NS),
    }
    request = {"stream_name": config.stream, "config": consumer}
    subject = f"CONSUMER.CREATE.{config.stream}.{name}"
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
