"""How partitioned ingest reaches NATS and lays out its stream, apart from the client so that
reading it is cheap (no nats-py)."""

from __future__ import annotations

from dataclasses import dataclass

from gymfloor.redact import redact


@dataclass(frozen=True, slots=True)
class NatsConfig:
    servers: tuple[str, ...]
    """nats://host:port of each server of the cluster; the client fails over between them."""
    partitions: int = 16
    """Fixed for the life of the stream: machines are hashed onto them."""
    replicas: int = 1
    """Copies of the stream, its consumers and the checkpoints: 3 on a 3-node cluster."""
    user: str | None = None
    password: str | None = None
    stream: str = "GYMFLOOR"
    pin_ttl_s: float = 5.0
    """How long a worker may go without asking for its partition's messages before the
    partition passes to another: the bound of a failover."""
    heartbeat_s: float = 1.0
    """How often a worker says it is alive, in the membership bucket."""
    retention_s: float = 86_400.0
    """The longest the stream keeps a message no checkpoint covers yet (workers all down)."""

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("no NATS server given")
        if not 1 <= self.partitions <= 1024:
            raise ValueError(f"NATS partitions must be 1 to 1024, not {self.partitions}")
        if not 1 <= self.replicas <= 5:
            raise ValueError(f"NATS replicas must be 1 to 5, not {self.replicas}")


def parse_servers(urls: str) -> tuple[str, ...]:
    """`nats://a:4222,nats://b:4222` → each server; a bare host:port gets nats://."""
    servers = tuple(
        url if "://" in url else f"nats://{url}"
        for url in (part.strip() for part in urls.split(","))
        if url
    )
    if not servers:
        raise ValueError(f"NATS URL {redact(urls)!r} names no server")
    return servers
