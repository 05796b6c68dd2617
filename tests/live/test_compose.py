"""The production stack's commands and broker, for real: the commands the image and compose run
exist, deploy/mosquitto's configuration, ACL and password step on a local Mosquitto, and the
health checks and store upgrade the services run. tests/unit/test_compose.py reads the files."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import create_engine, update

from gymfloor.contract.topics import MachineChannel, MachineKey, alerts_topic
from gymfloor.status import IngestHealth, LatencyHistogram
from gymfloor.storage import schema
from tests.support.floor import store_url, stored
from tests.support.processes import MOSQUITTO_PASSWD, ConfiguredMosquitto, gymfloor, wait_until
from tests.support.stack import (
    MACHINE,
    MOSQUITTO_DIR,
    OTHER,
    acl_rules,
    dockerfile_instruction,
    is_ours,
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
    """An MQTT 5 client that records the reason codes the broker answers with."""

    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.received: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{user}", protocol=mqtt.MQTTv5
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
        own, others = MachineKey("g1", MACHINE), MachineKey("g1", OTHER)

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
        ("lp-01", "has no password"),
        ("lp 01:x", "has no password"),
        ("lp/01:x", "is not a machine id"),
        ("ingest:x", "reserved"),
        ("lp-01:x,lp-01:y", "listed twice"),
    ):
        done = init_auth(tmp_path, **base, MQTT_MACHINES=machines)
        assert done.returncode != 0 and reason in done.stderr, (machines, done.stderr)
    done = init_auth(tmp_path, MQTT_HEALTHCHECK_PASSWORD="x")
    assert done.returncode != 0 and "MQTT_INGEST_PASSWORD" in done.stderr
    done = init_auth(tmp_path, **base)
    assert done.returncode == 0, done.stderr
    users = [line.split(":")[0] for line in (tmp_path / "passwords").read_text().splitlines()]
    assert users == ["ingest", "healthcheck", "simulator"]
    assert (tmp_path / "acl").read_text() == (MOSQUITTO_DIR / "acl").read_text()


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
