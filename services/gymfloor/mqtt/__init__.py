"""The MQTT connection every gymfloor process shares: broker URL, credentials, TLS, reconnect."""

from gymfloor.mqtt.connection import (
    BrokerAddress,
    MqttOptions,
    new_client,
    parse_mqtt_url,
    start,
)

__all__ = ["BrokerAddress", "MqttOptions", "new_client", "parse_mqtt_url", "start"]
