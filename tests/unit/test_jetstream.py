"""Partitioned ingest's pure parts: subjects, settings, delivery metadata, checkpoint entries."""

from __future__ import annotations

import pytest

from gymfloor.contract import INGEST_CHANNELS, MachineChannel, MachineKey
from gymfloor.ingest.jetstream.checkpoints import CheckpointEntry
from gymfloor.ingest.jetstream.config import NatsConfig, parse_servers
from gymfloor.ingest.jetstream.pulls import delivery_sequences
from gymfloor.ingest.jetstream.subjects import (
    capture_filters,
    partition_filter,
    partition_transform,
    topic_of_stored,
)
from gymfloor.settings import Settings


def test_a_stored_subject_gives_back_the_topic_the_edge_published() -> None:
    topic = MachineKey("gym-7", "lp_03").topic(MachineChannel.TELEMETRY)
    stored = "gymfloor.partition.11.gym-7.lp_03.telemetry"
    assert stored.startswith(partition_filter(11)[:-1])
    assert topic_of_stored(stored) == topic


def test_the_stream_captures_what_edges_publish_and_hashes_gym_and_machine() -> None:
    # As NATS's MQTT listener stores a QoS 1 message before acknowledging it.
    assert capture_filters() == [f"$MQTT.msgs.gymfloor.v1.*.*.{c}" for c in INGEST_CHANNELS]
    transform = partition_transform(8)
    assert transform["src"] == "$MQTT.msgs.gymfloor.v1.*.*.*"
    assert "{{partition(8,1,2)}}" in transform["dest"]
    assert transform["dest"].endswith("{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}")


def test_server_lists_are_split_and_given_a_scheme() -> None:
    assert parse_servers("a:4222, nats://b:4222,") == ("nats://a:4222", "nats://b:4222")
    with pytest.raises(ValueError):
        parse_servers(" , ")


@pytest.mark.parametrize(("partitions", "replicas"), [(0, 1), (2000, 1), (16, 6)])
def test_absurd_layouts_are_refused(partitions: int, replicas: int) -> None:
    with pytest.raises(ValueError):
        NatsConfig(servers=("nats://a:4222",), partitions=partitions, replicas=replicas)


def test_settings_switch_to_partitioned_ingest_with_a_nats_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().nats is None
    monkeypatch.setenv("GYMFLOOR_NATS_URL", "n1:4222,n2:4222")
    monkeypatch.setenv("GYMFLOOR_NATS_REPLICAS", "3")
    nats = Settings().nats
    assert nats is not None
    assert nats.servers == ("nats://n1:4222", "nats://n2:4222") and nats.replicas == 3


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.GYMFLOOR.ingest-p3.1.1042.17.1795856466905201572.0",
        "$JS.ACK.hub.ACCHASH.GYMFLOOR.ingest-p3.1.1042.17.1795856466905201572.0.tok",
    ],
)
def test_a_deliverys_reply_subject_gives_its_sequences_and_time(reply: str) -> None:
    assert delivery_sequences(reply) == (1042, 17, 1795856466905201572)


def test_a_checkpoint_entry_survives_encoding() -> None:
    entry = CheckpointEntry("worker-a", "p3.worker-a.7", 1042)
    assert CheckpointEntry.decode(entry.encode()) == entry
