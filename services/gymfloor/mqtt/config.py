"""Where the broker is and how to reach it, apart from the connection so that reading it is cheap
(no paho)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gymfloor.redact import redact

SCHEMES = {"mqtt": (False, 1883), "mqtts": (True, 8883)}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never shows the password
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> BrokerAddress:
    """`mqtt://host[:port]` or `mqtts://host[:port]` (TLS), optionally `user:password@host`."""
    parts, shown = urlsplit(url), redact(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"MQTT URL {shown!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {shown!r} names no host")
    tls, default_port = SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"MQTT URL {shown!r} has an invalid port") from None
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Everything needed to reach the broker. Credentials given separately win over the URL's."""

    url: str = "mqtt://localhost:1883"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30

    @property
    def address(self) -> BrokerAddress:
        address = parse_mqtt_url(self.url)
        return BrokerAddress(
            address.host,
            address.port,
            address.tls or self.ca_file is not None,
            self.username or address.username,
            self.password or address.password,
        )
