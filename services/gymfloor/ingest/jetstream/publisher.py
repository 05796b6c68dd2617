"""What ingest publishes (feedback, staff alerts, rep reports) goes out over MQTT, to NATS's
MQTT listener, at the contract's QoS 1.

Published as plain NATS messages they would reach the machines too, but only at QoS 0: NATS
gives an MQTT subscriber a QoS 1 delivery only of what an MQTT client published at QoS 1.
"""

from __future__ import annotations

from gymfloor.mqtt import MqttOptions, new_client, start


class MqttPublisher:
    def __init__(self, options: MqttOptions, client_id: str) -> None:
        self._options = options
        self.client = new_client(options, client_id, persistent=False)

    def start(self) -> None:
        start(self.client, self._options)

    def publish(self, topic: str, payload: bytes) -> None:
        """Queued by paho, and sent once connected; safe from any thread."""
        self.client.publish(topic, payload, qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
