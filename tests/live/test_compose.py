"""The production stacks' commands and brokers, for real: the commands the image and compose run
exist, deploy/mosquitto's configuration, ACL and password step on a local Mosquitto,
deploy/nats's configuration and users on a local cluster of three NATS nodes, and the health
checks and store upgrade the services run. tests/unit/test_compose.py reads the files."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import create_engine, update

from gymfloor.contract.topics import MachineChannel, alerts_topic
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.ingest.jetstream.subjects import topic_of_stored
from gymfloor.ingest.jetstream.topology import declare
from gymfloor.ports import free_port
from gymfloor.status import IngestHealth, LatencyHistogram
from gymfloor.storage import schema
from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.floor import (
    analyzed,
    canonical,
    exported,
    store_url,
    stored,
    stored_count,
    write_recording,
)
from tests.support.nats import NATS_SERVER, NatsServer
from tests.support.processes import (
    MOSQUITTO_PASSWD,
    ConfiguredMosquitto,
    Service,
    gymfloor,
    wait_until,
)
from tests.support.stack import (
    MACHINE,
    MACHINE_KEY,
    MOSQUITTO_DIR,
    NATS_DIR,
    OTHER,
    OTHER_KEY,
    acl_rules,
    dockerfile_instruction,
    is_ours,
    nats_init_auth,
)

# -- the commands --------------------------------------------------------------------------------


def test_dockerfile_runs_real_commands() -> None:
    assert dockerfile_instruction("ENTRYPOINT") == ["gymfloor"]
    command = dockerfile_instruction("CMD")
    done = gymfloor(*command, "--help")
    assert done.returncode == 0, done.stderr


def test_compose_commands_are_real(compose: dict[str, Any]) -> None:
    """Our services and their health checks run `gymfloor` commands that exist."""
    checked = 0
    for name, service in compose["services"].items():
        if not is_ours(service):
            continue
        assert "entrypoint" not in service, name  # the image's: gymfloor
        command = [str(part) for part in service.get("command", [])]
        done = gymfloor(*command, "--help")
        assert done.returncode == 0, f"{name}: gymfloor {' '.join(command)}: {done.stderr}"
        check = service.get("healthcheck", {}).get("test", [])
        if check:
            assert check[:2] == ["CMD", "gymfloor"], name
            done = gymfloor(*check[2:], "--help")
            assert done.returncode == 0, f"{name}: {' '.join(check[1:])}: {done.stderr}"
            checked += 1
    assert checked >= 2
    assert compose["services"]["store-init"]["command"] == ["store", "upgrade"]


# -- the broker, for real ------------------------------------------------------------------------

PASSWORDS = {
    "MQTT_INGEST_PASSWORD": "ingest-secret",
    "MQTT_HEALTHCHECK_PASSWORD": "health-secret",
    "MQTT_SIMULATOR_PASSWORD": "sim-secret",
    "MQTT_MACHINES": f"{MACHINE}:machine-secret,{OTHER}:other:secret",
}
NOT_AUTHORIZED = 135


def init_auth(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """deploy/mosquitto/init-auth, as the mosquitto-auth service runs it, with the local
    mosquitto_passwd."""
    path = f"{Path(MOSQUITTO_PASSWD).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "init-auth")],
        env={"PATH": path, "MOSQUITTO_AUTH_DIR": str(directory), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfiguredMosquitto]:
    """deploy/mosquitto/mosquitto.conf, with the ACL and a password file from init-auth."""
    directory = tmp_path_factory.mktemp("broker")
    done = init_auth(directory / "auth", **PASSWORDS)
    assert done.returncode == 0, done.stderr
    (directory / "data").mkdir()
    paths = {"/mosquitto/auth/": directory / "auth", "/mosquitto/data/": directory / "data"}
    with ConfiguredMosquitto(directory, MOSQUITTO_DIR / "mosquitto.conf", paths) as server:
        yield server


class Session:
    """An MQTT client (5 unless told: NATS speaks 3.1.1) that records what the broker answers."""

    def __init__(
        self,
        port: int,
        user: str | None,
        password: str | None,
        protocol: MQTTProtocolVersion = mqtt.MQTTv5,
    ) -> None:
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.received: list[tuple[str, bytes]] = []
        # NATS refuses a dot in a client id, as the edge agent's (gymfloor-edge-GYM-MACHINE)
        # has none; logins have one.
        client_id = f"test-{user}".replace(".", "-")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda client, userdata: None
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(lambda: self.connack is not None, 10, f"CONNACK for {user}")

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        self.connack = rc

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: ReasonCode, props: Properties
    ) -> None:
        self.pubacks[mid] = rc

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, rcs: list[ReasonCode], props: Any
    ) -> None:
        self.subacks[mid] = rcs

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received.append((message.topic, bytes(message.payload)))

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        mid = self.client.publish(topic, payload, qos=1).mid
        wait_until(lambda: mid in self.pubacks, 10, f"PUBACK for {topic}")
        return self.pubacks[mid]

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        wait_until(lambda: mid in self.subacks, 10, f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_broker_refuses_anonymous_and_wrong_passwords(broker: ConfiguredMosquitto) -> None:
    for user, password in ((None, None), (MACHINE, "wrong"), ("ingest", "machine-secret")):
        session = Session(broker.port, user, password)
        try:
            assert not session.accepted, user
            assert session.connack is not None and session.connack.value == NOT_AUTHORIZED
        finally:
            session.close()


def test_broker_enforces_the_acl(broker: ConfiguredMosquitto) -> None:
    ingest = Session(broker.port, "ingest", PASSWORDS["MQTT_INGEST_PASSWORD"])
    machine = Session(broker.port, MACHINE, "machine-secret")
    other = Session(broker.port, OTHER, "other:secret")  # a password may contain a colon
    try:
        assert ingest.accepted and machine.accepted and other.accepted
        assert not ingest.subscribe("gymfloor/v1/+/+/telemetry").is_failure
        own, others = MACHINE_KEY, OTHER_KEY

        assert not machine.publish(own.topic(MachineChannel.TELEMETRY), b"own").is_failure
        refused = machine.publish(others.topic(MachineChannel.TELEMETRY), b"spoofed")
        assert refused.value == NOT_AUTHORIZED
        refused = machine.publish(own.topic(MachineChannel.FEEDBACK), b"not the machine's")
        assert refused.value == NOT_AUTHORIZED
        # The marker comes after the refused message from the same client: once the marker is
        # in, the refused one would have been too.
        assert not machine.publish(own.topic(MachineChannel.TELEMETRY), b"marker").is_failure
        wait_until(lambda: len(ingest.received) >= 2, 10, "the machine's messages at ingest")
        assert ingest.received == [
            (own.topic(MachineChannel.TELEMETRY), b"own"),
            (own.topic(MachineChannel.TELEMETRY), b"marker"),
        ]

        # Mosquitto grants any subscription and applies the read rules as it delivers.
        machine.subscribe(others.topic(MachineChannel.FEEDBACK))
        assert not machine.subscribe(own.topic(MachineChannel.FEEDBACK)).is_failure
        assert not other.subscribe(others.topic(MachineChannel.FEEDBACK)).is_failure
        assert not ingest.publish(others.topic(MachineChannel.FEEDBACK), b"other's").is_failure
        assert not ingest.publish(own.topic(MachineChannel.FEEDBACK), b"cue").is_failure
        assert not ingest.publish(alerts_topic("g1"), b"alert").is_failure
        wait_until(lambda: len(machine.received) >= 1, 10, "feedback at the machine")
        wait_until(lambda: len(other.received) >= 1, 10, "feedback at the other machine")
        # Delivered in the order published: "other's" would have come before "cue".
        assert machine.received == [(own.topic(MachineChannel.FEEDBACK), b"cue")]
        assert other.received == [(others.topic(MachineChannel.FEEDBACK), b"other's")]
    finally:
        for session in (ingest, machine, other):
            session.close()


def mosquitto_healthcheck(compose: dict[str, Any], port: int, password: str) -> int:
    test = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    command = test[1].replace("-p 1883", f"-p {port}")
    assert str(port) in command
    env = {"PATH": os.environ["PATH"], "MQTT_HEALTHCHECK_PASSWORD": password}
    done = subprocess.run(["sh", "-c", command], env=env, timeout=30, check=False)
    return done.returncode


def test_broker_health_check_logs_in_as_its_own_user(
    broker: ConfiguredMosquitto, compose: dict[str, Any]
) -> None:
    assert mosquitto_healthcheck(compose, broker.port, PASSWORDS["MQTT_HEALTHCHECK_PASSWORD"]) == 0
    assert mosquitto_healthcheck(compose, broker.port, "wrong") != 0


def test_healthcheck_user_reads_nothing_else(broker: ConfiguredMosquitto) -> None:
    assert acl_rules("healthcheck", patterns=False) == [("read", "$SYS/broker/uptime")]
    session = Session(broker.port, "healthcheck", PASSWORDS["MQTT_HEALTHCHECK_PASSWORD"])
    try:
        assert session.publish(alerts_topic("g1"), b"x").value == NOT_AUTHORIZED
    finally:
        session.close()


def test_init_auth_refuses_bad_machine_lists(tmp_path: Path) -> None:
    base = {k: v for k, v in PASSWORDS.items() if k != "MQTT_MACHINES"}
    for machines, reason in (
        ("g1.lp-01", "has no password"),
        ("g1.lp 01:x", "has no password"),
        ("g1/lp-01:x", "is not GYM.MACHINE"),
        ("lp-01:x", "is not GYM.MACHINE"),
        ("ingest:x", "is not GYM.MACHINE"),
        ("g1.lp.01:x", "is not GYM.MACHINE"),
        ("g1.lp-01:x,g1.lp-01:y", "listed twice"),
    ):
        done = init_auth(tmp_path, **base, MQTT_MACHINES=machines)
        assert done.returncode != 0 and reason in done.stderr, (machines, done.stderr)
    done = init_auth(tmp_path, MQTT_HEALTHCHECK_PASSWORD="x")
    assert done.returncode != 0 and "MQTT_INGEST_PASSWORD" in done.stderr
    done = init_auth(tmp_path, **base)
    assert done.returncode == 0, done.stderr
    users = [line.split(":")[0] for line in (tmp_path / "passwords").read_text().splitlines()]
    assert users == ["ingest", "healthcheck", "simulator"]
    assert (tmp_path / "acl").read_text().startswith((MOSQUITTO_DIR / "acl").read_text())


# -- the NATS cluster, for real ----------------------------------------------------------------

NATS_NODES = ("nats-1", "nats-2", "nats-3")
NATS_PASSWORDS = {**PASSWORDS, "NATS_ROUTE_PASSWORD": "route-secret"}
INGEST_PASSWORD = PASSWORDS["MQTT_INGEST_PASSWORD"]
SIMULATOR_PASSWORD = PASSWORDS["MQTT_SIMULATOR_PASSWORD"]


class ConfiguredNats(NatsServer):
    """A node run with deploy/nats/nats.conf as a container of the cluster runs it, beside an
    auth/ directory from init-auth, as the auth volume is beside it there; its ports move to free
    ones on 127.0.0.1 and its JetStream store to the test's directory. Every other line is kept
    as it is."""

    def __init__(self, directory: Path, name: str, cluster_port: int) -> None:
        super().__init__(directory / name, name=name, cluster_port=cluster_port)
        self.config = directory / f"{name}.conf"  # auth/ is in `directory`

    def arguments(self) -> list[str]:
        replacements = {
            "port: 4222": f"listen: 127.0.0.1:{self.port}",
            "http_port: 8222": f"http: 127.0.0.1:{self.monitor_port}",
            "port: 6222": f"listen: 127.0.0.1:{self.cluster_port}",
            "port: 1883": f"listen: 127.0.0.1:{self.mqtt_port}",
            "store_dir: /data/jetstream": f'store_dir: "{self.directory / "jetstream"}"',
        }
        lines = []
        for line in (NATS_DIR / "nats.conf").read_text().splitlines():
            setting = line.strip()
            if setting in replacements:
                line = line.replace(setting, replacements.pop(setting))
            lines.append(line)
        assert not replacements, f"no longer in deploy/nats/nats.conf: {list(replacements)}"
        self.config.write_text("\n".join(lines) + "\n")
        return ["-c", str(self.config)]

    def spawn(self) -> subprocess.Popen[bytes]:
        """With the node's name in NATS_SERVER_NAME, as the compose file sets it."""
        return subprocess.Popen(
            [self.program, *self.arguments()],
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / self.log_name, "ab"),
            env={**os.environ, "NATS_SERVER_NAME": self.name},
        )

    def log(self) -> str:
        return (self.directory / self.log_name).read_text()

    @property
    def reloads(self) -> int:
        return self.log().count("Reloaded server configuration")

    def reloaded(self, before: int) -> bool:
        return self.reloads > before


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ConfiguredNats]]:
    """Three nodes, routed to each other with the route password, with init-auth's users."""
    directory = tmp_path_factory.mktemp("cluster")
    cluster_ports = [free_port() for _ in NATS_NODES]
    routes = ",".join(f"127.0.0.1:{port}" for port in cluster_ports)
    done = nats_init_auth(directory / "auth", **NATS_PASSWORDS, NATS_NODES=routes)
    assert done.returncode == 0, done.stderr
    nodes = [
        ConfiguredNats(directory, n, p) for n, p in zip(NATS_NODES, cluster_ports, strict=True)
    ]
    try:
        # A node answers /healthz once the cluster has a JetStream leader: start all, then wait.
        for node in nodes:
            node.process = node.spawn()
        for node in nodes:
            wait_until(node._ready, node.start_timeout_s, f"NATS node {node.name}")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def nats_servers(nodes: list[ConfiguredNats]) -> list[str]:
    return [node.url for node in nodes]


def test_nats_config_is_valid_as_the_containers_read_it(tmp_path: Path) -> None:
    """`nats-server -t`, on the configuration and auth/ as a node's container has them."""
    done = nats_init_auth(tmp_path / "auth", **NATS_PASSWORDS, NATS_NODES=",".join(NATS_NODES))
    assert done.returncode == 0, done.stderr
    config = tmp_path / "nats-server.conf"
    shutil.copy(NATS_DIR / "nats.conf", config)

    def check(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NATS_SERVER, "-t", "-c", str(config)],
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    done = check(NATS_SERVER_NAME="nats-1")
    assert done.returncode == 0, done.stdout + done.stderr
    done = check()  # the compose file must name each node
    assert done.returncode != 0 and "NATS_SERVER_NAME" in done.stdout + done.stderr
    (tmp_path / "auth" / "accounts.conf").unlink()  # before nats-auth has run
    assert check(NATS_SERVER_NAME="nats-1").returncode != 0


def test_cluster_forms_with_the_route_password(cluster: list[ConfiguredNats]) -> None:
    def routed(node: ConfiguredNats) -> set[str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/routez") as response:
            return {route["remote_name"] for route in json.load(response)["routes"]}

    # A node may still be dialling a peer when the cluster first answers: wait for its routes.
    for node in cluster:
        peers = set(NATS_NODES) - {node.name}
        wait_until(lambda: routed(node) >= peers, 30, f"{node.name}'s routes")  # noqa: B023
        assert routed(node) == peers


def test_cluster_refuses_anonymous_and_wrong_passwords(cluster: list[ConfiguredNats]) -> None:
    port = cluster[0].mqtt_port
    for user, password in ((None, None), (MACHINE, "wrong"), ("ingest", "machine-secret")):
        session = Session(port, user, password, protocol=mqtt.MQTTv311)
        try:
            assert not session.accepted, user
        finally:
            session.close()

    async def connect(user: str | None, password: str | None) -> None:
        client = await nats.connect(
            nats_servers(cluster), user=user, password=password, allow_reconnect=False
        )
        await client.close()

    for user, password in ((None, None), ("ingest", "wrong"), (MACHINE, "machine-secret")):
        with pytest.raises(Exception, match="Authorization Violation"):
            asyncio.run(connect(user, password))


async def declare_as_ingest(servers: list[str]) -> None:
    """The stream, consumers and buckets of partitioned ingest, as its workers declare them."""
    config = NatsConfig(tuple(servers), replicas=3, user="ingest", password=INGEST_PASSWORD)
    client = await nats.connect(servers, user=config.user, password=config.password)
    try:
        await declare(client, config)
    finally:
        await client.close()


async def stream_contents(servers: list[str], gym: str) -> list[tuple[str, bytes]]:
    """The gym's messages in the stream, in order, as (topic, payload)."""
    client = await nats.connect(servers, user="ingest", password=INGEST_PASSWORD)
    try:
        js = client.jetstream()
        state = (await js.stream_info("GYMFLOOR")).state
        messages = []
        for seq in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg("GYMFLOOR", seq, direct=True)
            assert message.subject is not None and message.data is not None
            topic = topic_of_stored(message.subject)
            if topic.split("/")[2] == gym:
                messages.append((topic, message.data))
        return messages
    finally:
        await client.close()


def test_cluster_enforces_the_permissions(cluster: list[ConfiguredNats]) -> None:
    servers = nats_servers(cluster)
    edge, outputs = cluster[0].mqtt_port, cluster[1].mqtt_port
    ingest = Session(outputs, "ingest", INGEST_PASSWORD, protocol=mqtt.MQTTv311)
    machine = Session(edge, MACHINE, "machine-secret", protocol=mqtt.MQTTv311)
    other = Session(edge, OTHER, "other:secret", protocol=mqtt.MQTTv311)
    try:
        assert ingest.accepted and machine.accepted and other.accepted
        # What ingest may do on JetStream, it can; after a first MQTT session, as a worker's
        # publisher opens one before it declares (the listener's streams are made then).
        asyncio.run(declare_as_ingest(servers))
        own, others = MACHINE_KEY, OTHER_KEY
        # NATS acknowledges a refused publication like any other and drops it: what reached the
        # stream says what was let through. The marker comes after the refused ones from the
        # same client: once it is in, they would have been too.
        for topic, payload in (
            (own.topic(MachineChannel.TELEMETRY), b"own"),
            (others.topic(MachineChannel.TELEMETRY), b"spoofed"),
            (others.topic(MachineChannel.SESSION), b"spoofed"),
            (own.topic(MachineChannel.FEEDBACK), b"not the machine's"),
            (own.topic(MachineChannel.TELEMETRY), b"marker"),
        ):
            assert not machine.publish(topic, payload).is_failure
        wait_until(
            lambda: len(asyncio.run(stream_contents(servers, "g1"))) >= 2, 10, "the messages"
        )
        assert asyncio.run(stream_contents(servers, "g1")) == [
            (own.topic(MachineChannel.TELEMETRY), b"own"),
            (own.topic(MachineChannel.TELEMETRY), b"marker"),
        ]

        # Unlike Mosquitto, NATS refuses a subscription outside the permissions outright.
        assert machine.subscribe(others.topic(MachineChannel.FEEDBACK)).is_failure
        assert ingest.subscribe(own.topic(MachineChannel.TELEMETRY)).is_failure
        assert not machine.subscribe(own.topic(MachineChannel.FEEDBACK)).is_failure
        assert not other.subscribe(others.topic(MachineChannel.FEEDBACK)).is_failure
        assert not ingest.publish(others.topic(MachineChannel.FEEDBACK), b"other's").is_failure
        assert not ingest.publish(own.topic(MachineChannel.FEEDBACK), b"cue").is_failure
        wait_until(lambda: len(machine.received) >= 1, 10, "feedback at the machine")
        wait_until(lambda: len(other.received) >= 1, 10, "feedback at the other machine")
        assert machine.received == [(own.topic(MachineChannel.FEEDBACK), b"cue")]
        assert other.received == [(others.topic(MachineChannel.FEEDBACK), b"other's")]
    finally:
        for session in (ingest, machine, other):
            session.close()


def test_a_worker_with_the_ingest_login_stores_what_analyze_finds(
    cluster: list[ConfiguredNats], tmp_path: Path
) -> None:
    """`gymfloor ingest` as the cluster's workers run it, with nothing but the ingest user's
    permissions; the simulator user plays gym "sim" through another node."""
    simulation = simulate(SimulationPlan(seed=5, machines=2, visits=1, gym_id="sim"))
    recording = write_recording(tmp_path / "sim.jsonl", simulation.messages)
    expected = canonical(analyzed(recording))
    assert expected and any(report["faults"] for report in expected)
    display = Session(cluster[2].mqtt_port, "simulator", SIMULATOR_PASSWORD, protocol=mqtt.MQTTv311)
    worker = Service(
        "ingest",
        env={
            "GYMFLOOR_NATS_URL": ",".join(nats_servers(cluster)),
            "GYMFLOOR_NATS_REPLICAS": "3",
            "GYMFLOOR_NATS_USER": "ingest",
            "GYMFLOOR_NATS_PASSWORD": INGEST_PASSWORD,
            "GYMFLOOR_MQTT_URL": cluster[1].mqtt_url,
            "GYMFLOOR_MQTT_USERNAME": "ingest",
            "GYMFLOOR_MQTT_PASSWORD": INGEST_PASSWORD,
            "GYMFLOOR_DATA_DIR": str(tmp_path),
            "GYMFLOOR_INGEST__CHECKPOINT_INTERVAL_S": "1",
        },
    )
    replay = Service(
        "replay",
        str(recording),
        "--speed",
        "0",
        env={
            "GYMFLOOR_MQTT_URL": cluster[0].mqtt_url,
            "GYMFLOOR_MQTT_USERNAME": "simulator",
            "GYMFLOOR_MQTT_PASSWORD": SIMULATOR_PASSWORD,
        },
    )
    try:
        assert not display.subscribe("gymfloor/v1/sim/+/feedback").is_failure
        with worker:
            worker.wait_for_log("sharing")
            with replay:
                assert replay.process is not None and replay.process.wait(120) == 0
            try:
                wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep")
                wait_until(lambda: bool(display.received), 10, "feedback at the sim's display")
            except AssertionError as exc:
                stored_reps = f"{stored_count(tmp_path)} of {len(expected)} reps stored"
                raise AssertionError(f"{exc}; {stored_reps}; {''.join(worker.log[-40:])}") from None
            assert worker.stop() == 0
    finally:
        display.close()
    assert exported(tmp_path) == expected
    violations = [
        line for node in cluster for line in node.log().splitlines() if "Violation" in line
    ]
    assert not [line for line in violations if '"GYMFLOOR/user:ingest"' in line], violations
    assert not any("ermission" in line for line in worker.log), "".join(worker.log[-30:])


def test_cluster_reloads_its_users(cluster: list[ConfiguredNats]) -> None:
    """What deploy/nats/add-machine has compose do: init-auth again, then SIGHUP every node."""
    auth = cluster[0].config.parent / "auth"
    routes = ",".join(f"127.0.0.1:{node.cluster_port}" for node in cluster)

    def reload(machines: str) -> None:
        env = {**NATS_PASSWORDS, "MQTT_MACHINES": machines, "NATS_NODES": routes}
        done = nats_init_auth(auth, **env)
        assert done.returncode == 0, done.stderr
        for node in cluster:
            assert node.process is not None
            reloaded = partial(node.reloaded, node.reloads)
            node.process.send_signal(signal.SIGHUP)
            wait_until(reloaded, 10, f"{node.name} reloading")

    def accepted(node: ConfiguredNats, user: str, password: str) -> bool:
        session = Session(node.mqtt_port, user, password, protocol=mqtt.MQTTv311)
        session.close()
        return session.accepted

    withdrawn = Session(cluster[0].mqtt_port, OTHER, "other:secret", protocol=mqtt.MQTTv311)
    try:
        assert withdrawn.accepted
        reload(f"{MACHINE}:machine-secret,g1.lp-09:new-secret")  # lp-09 added, OTHER withdrawn
        # A node cuts off the connections of users it no longer has.
        wait_until(lambda: not withdrawn.client.is_connected(), 10, "the withdrawn cut off")
        for node in cluster:
            assert accepted(node, "g1.lp-09", "new-secret"), node.name
            assert not accepted(node, OTHER, "other:secret"), node.name
            assert accepted(node, MACHINE, "machine-secret"), node.name
    finally:
        withdrawn.close()
        reload(PASSWORDS["MQTT_MACHINES"])


def test_nats_add_machine_edits_env_and_reloads_the_nodes(tmp_path: Path) -> None:
    """deploy/nats/add-machine, with a `docker` that records what it is asked to do."""
    calls = tmp_path / "docker-calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$*" >>"{calls}"\n')
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / ".env").write_text("MQTT_INGEST_PASSWORD=x\nMQTT_MACHINES=g1.lp-01:one\n")
    done = subprocess.run(
        [str(NATS_DIR / "add-machine"), "g1", "lp-02", "two"],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "MQTT_MACHINES=g1.lp-01:one,g1.lp-02:two" in (tmp_path / ".env").read_text()
    assert calls.read_text().splitlines() == [
        "compose -f docker-compose.cluster.yml run --rm --no-deps nats-auth",
        "compose -f docker-compose.cluster.yml kill -s SIGHUP nats-1 nats-2 nats-3",
    ]
    assert "GYMFLOOR_MQTT_USERNAME=g1.lp-02" in done.stdout
    assert "GYMFLOOR_EDGE__GYM_ID=g1" in done.stdout
    assert "GYMFLOOR_MQTT_PASSWORD=two" in done.stdout
    assert "GYMFLOOR_MQTT_URL=mqtt://NODE_HOST:NODE_PORT" in done.stdout
    done = subprocess.run(
        [str(NATS_DIR / "add-machine"), "g1", "lp.02"],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0 and "is not an id" in done.stderr
    assert len(calls.read_text().splitlines()) == 2  # nothing reloaded


# -- the health checks and the store's upgrade (`gymfloor check`, `gymfloor store upgrade`) ----


def health(connected: bool) -> IngestHealth:
    return IngestHealth(
        counters={},
        queued=0,
        machines=0,
        broker_connected=connected,
        detection_latency=LatencyHistogram(),
        timeseries=None,
    )


def in_container(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`gymfloor ARGS`, with the store in `data_dir` as the image's GYMFLOOR_DATA_DIR puts it."""
    return gymfloor(*args, env={"GYMFLOOR_DATA_DIR": str(data_dir), **env})


def test_ingest_health_check_reads_the_status_ingest_writes(tmp_path: Path) -> None:
    done = in_container(tmp_path, "check", "ingest")
    assert done.returncode == 1 and "no store" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "gymfloor.db").exists()  # the check made no empty store

    done = in_container(tmp_path, "store", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "revision" in done.stderr
    done = in_container(tmp_path, "check", "ingest")
    assert done.returncode == 1 and "has not reported" in done.stderr

    with stored(tmp_path) as store:
        store.report_status("gymfloor-ingest", 0.0, health(connected=False))
        done = in_container(tmp_path, "check", "ingest")
        assert done.returncode == 1 and "not connected" in done.stderr

        store.report_status("gymfloor-ingest", 0.0, health(connected=True))
        done = in_container(tmp_path, "check", "ingest")
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        # Another instance's status is not this one's.
        done = in_container(tmp_path, "check", "ingest", GYMFLOOR_INGEST__CLIENT_ID="other")
        assert done.returncode == 1 and "'other' has not reported" in done.stderr

        engine = create_engine(store_url(tmp_path))
        with engine.begin() as db:
            db.execute(update(schema.ingest_status).values(updated_at=0.0))
        engine.dispose()
        done = in_container(tmp_path, "check", "ingest")
        assert done.returncode == 1 and "last reported" in done.stderr


def test_store_upgrade_and_ingest_check_take_the_storage_flags(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    done = in_container(tmp_path, "store", "upgrade", "--data-dir", str(elsewhere))
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "gymfloor.db").is_file() and not (tmp_path / "gymfloor.db").exists()
    done = in_container(tmp_path, "check", "ingest", "--db-url", store_url(elsewhere))
    assert done.returncode == 1 and "has not reported" in done.stderr


def test_api_health_check_asks_healthz(tmp_path: Path) -> None:
    paths: list[str] = []

    class Healthz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = str(server.server_address[1])
        done = in_container(tmp_path, "check", "api", GYMFLOOR_API__PORT=port)
        assert done.returncode == 0, done.stderr
        done = in_container(tmp_path, "check", "api", "--port", port)
        assert done.returncode == 0, done.stderr
        assert paths == ["/healthz", "/healthz"]
    finally:
        server.shutdown()
        server.server_close()
    done = in_container(tmp_path, "check", "api", GYMFLOOR_API__PORT=port)  # nothing listens
    assert done.returncode == 1 and f"127.0.0.1:{port}/healthz" in done.stderr
    done = in_container(tmp_path, "check", "nothing")
    assert done.returncode == 2
