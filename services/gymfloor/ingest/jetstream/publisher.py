"""What ingest publishes (feedback, staff alerts, rep reports), as NATS subjects that NATS's
MQTT listener hands to MQTT subscribers under the contract's topics."""

from __future__ import annotations

from gymfloor.ingest.jetstream.client import NatsLoop
from gymfloor.ingest.jetstream.subjects import subject_of

MQTT_QOS_1 = {"Nmqtt-Pub": "1"}
"""NATS delivers a message carrying this header to MQTT subscribers as a QoS 1 publish, as the
contract asks, rather than as QoS 0, which a plain NATS message would be."""


class NatsPublisher:
    def __init__(self, nats: NatsLoop) -> None:
        self._nats = nats

    def publish(self, topic: str, payload: bytes) -> None:
        self._nats.publish(subject_of(topic), payload, MQTT_QOS_1)
