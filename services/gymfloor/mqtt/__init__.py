"""The MQTT connection every gymfloor process shares: broker URL, credentials, TLS, reconnect.

`config` (the broker's address and options) is light; `connection` imports paho, on first use
of `new_client` or `start` (see gymfloor.lazy).
"""

from typing import TYPE_CHECKING

from gymfloor.lazy import lazy_exports
from gymfloor.mqtt.config import BrokerAddress, MqttOptions, parse_mqtt_url

if TYPE_CHECKING:
    from gymfloor.mqtt.connection import new_client, start

__all__ = ["BrokerAddress", "MqttOptions", "new_client", "parse_mqtt_url", "start"]
__getattr__ = lazy_exports(__name__, {"new_client": "connection", "start": "connection"})
