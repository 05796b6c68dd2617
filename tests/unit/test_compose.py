"""The production stack (docker-compose.yml, Dockerfile, deploy/), checked without Docker: the
files agree with each other and with the code, and the broker's real configuration, ACL and
password step are tried on a local Mosquitto."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel
from sqlalchemy import create_engine, update

from gymfloor.contract.topics import INGEST_CHANNELS, MachineChannel, MachineKey, alerts_topic
from gymfloor.settings import ENV_NESTING, ENV_PREFIX, Settings
from gymfloor.status import IngestHealth, LatencyHistogram
from gymfloor.storage import OperationalStore, schema
from tests.support import ROOT
from tests.support.processes import MOSQUITTO_PASSWD, ConfiguredMosquitto, gymfloor, wait_until

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"

# Services without a health check, and why.
NO_HEALTHCHECK = {
    "mosquitto-auth": "one-shot: writes the broker's password file and ACL, then exits",
    "store-init": "one-shot: brings the store's schema up to date, then exits",
    "simulator": "a demonstration tool nothing depends on; its machines' status topics show it",
}
# What each third-party image documents as its own settings.
IMAGE_ENV_PREFIXES = {
    "influxdb": ("DOCKER_INFLUXDB_INIT_",),
    "grafana/grafana-oss": ("GF_",),
    "eclipse-mosquitto": (),
}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a `$`.
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")

MACHINE = "lp-07"
OTHER = "lp-08"
GYMS = ("g1", "sim")


# -- reading the files -------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution, enough for this file."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        value, op, arg = env.get(match["name"]), match["op"] or "", match["arg"]
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise AssertionError(f"{match['name']} is required: {arg}")
        return value or ""

    return VARIABLE.sub(substitute, text)


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    text = COMPOSE.read_text()
    document: dict[str, Any] = yaml.safe_load(interpolate(text, env) if env is not None else text)
    return document


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file with .env.example's values, as `docker compose` would see it."""
    return load_compose(env_example())


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return load_compose()


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def is_ours(service: dict[str, Any]) -> bool:
    """Built from this repository's Dockerfile."""
    return "build" in service


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of every mount of a file or directory of the repository."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source.startswith(("./", "../", "/")):
            mounts.append(((ROOT / source).resolve(), target))
    return mounts


def setting_names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    """The environment variables pydantic-settings reads for `model`'s fields, nested ones
    included."""
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_names(annotation, variable + ENV_NESTING)
        else:
            yield variable


VALID_SETTINGS = frozenset(setting_names(Settings, ENV_PREFIX))


# -- the compose file ------------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    assert compose["services"]
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = service["build"] if isinstance(service["build"], str) else "."
            assert (ROOT / context / "Dockerfile").is_file(), name


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in NO_HEALTHCHECK:
            continue
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], name
        assert service.get("restart") == "unless-stopped", name
    for name in NO_HEALTHCHECK:
        assert name in compose["services"], f"{name} is listed here but not in the compose file"
    for name in ("mosquitto-auth", "store-init"):
        assert compose["services"][name]["restart"] == "no", name


def test_dependencies_wait_for_health_or_completion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = (
                "service_completed_successfully"
                if dependency in ("mosquitto-auth", "store-init")
                else "service_healthy"
            )
            assert condition["condition"] == wanted, f"{name} → {dependency}"
            assert dependency in services


def test_ingest_and_api_share_the_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    data = {
        name: [v for v in services[name]["volumes"] if v.endswith(":/data")]
        for name in ("ingest", "api", "store-init")
    }
    assert data["ingest"] == data["api"] == data["store-init"] == ["gymfloor-data:/data"]
    assert "gymfloor-data" in compose["volumes"]
    for name in data:
        assert environment(services[name])["GYMFLOOR_DATA_DIR"] == "/data"


def test_our_services_set_only_settings_the_code_reads(raw_compose: dict[str, Any]) -> None:
    assert "GYMFLOOR_INFLUX__URL" in VALID_SETTINGS  # the derivation finds nested settings
    assert "GYMFLOOR_MQTT_USERNAME" in VALID_SETTINGS
    checked = 0
    for name, service in raw_compose["services"].items():
        if is_ours(service):
            unknown = set(environment(service)) - VALID_SETTINGS
            assert not unknown, f"{name} sets {sorted(unknown)}, which gymfloor does not read"
            checked += 1
    assert checked >= 4


def test_third_party_services_set_only_their_documented_variables(
    raw_compose: dict[str, Any],
) -> None:
    """A variable is the image's own (by its documented prefix), or one that a file mounted
    into the container, or the service's own command, entrypoint or health check, reads."""
    for name, service in raw_compose["services"].items():
        if is_ours(service):
            continue
        image = service["image"].partition(":")[0]
        prefixes = IMAGE_ENV_PREFIXES[image]
        readers = [
            json.dumps([service.get(k) for k in ("entrypoint", "command", "healthcheck")]),
            *(
                file.read_text()
                for source, _ in bind_mounts(service)
                for file in ([source] if source.is_file() else sorted(source.rglob("*")))
                if file.is_file()
            ),
        ]
        for variable in environment(service):
            if variable.startswith(prefixes):
                continue
            pattern = re.compile(rf"\$\$?\{{?{variable}\b")
            assert any(pattern.search(text) for text in readers), (
                f"{name} sets {variable}, which neither {image} nor its mounted files read"
            )


def test_grafana_provisioning_reads_the_influx_settings(raw_compose: dict[str, Any]) -> None:
    grafana = raw_compose["services"]["grafana"]
    provisioning = "".join(
        file.read_text()
        for source, _ in bind_mounts(grafana)
        if source.is_dir()
        for file in sorted(source.rglob("*"))
        if file.is_file()
    )
    for variable in (v for v in environment(grafana) if v.startswith("GYMFLOOR_")):
        assert f"${{{variable}}}" in provisioning or f"${variable}" in provisioning, variable


def test_every_mounted_repository_path_exists(raw_compose: dict[str, Any]) -> None:
    missing = [
        f"{name}: {source.relative_to(ROOT)}"
        for name, service in raw_compose["services"].items()
        for source, _ in bind_mounts(service)
        if not source.exists()
    ]
    assert not missing, f"mounted but not in the repository: {missing}"


def test_every_variable_is_in_env_example(raw_compose: dict[str, Any]) -> None:
    used = {m["name"] for m in VARIABLE.finditer(COMPOSE.read_text()) if m["name"]}
    defined = env_example()
    assert used - set(defined) == set(), "used by docker-compose.yml, missing in .env.example"
    assert set(defined) - used == set(), "in .env.example, unused by docker-compose.yml"


def test_env_example_marks_its_development_secrets() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    secrets = [i for i, line in enumerate(lines) if re.match(r"[A-Z_]*(PASSWORD|TOKEN)=\S", line)]
    assert len(secrets) >= 6
    for i in secrets:
        assert "DEVELOPMENT DEFAULT" in lines[i - 1], lines[i]


def test_compose_needs_its_secrets() -> None:
    """Without .env the stack refuses to start rather than run with empty passwords."""
    env = {k: v for k, v in env_example().items() if "PASSWORD" not in k and "TOKEN" not in k}
    with pytest.raises(AssertionError, match="is required"):
        load_compose(env)


# -- the commands --------------------------------------------------------------------------------


def dockerfile_instruction(name: str) -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")]
    assert lines, f"no {name} in the Dockerfile"
    value: list[str] = json.loads(lines[-1].removeprefix(name + " "))
    return value


def test_dockerfile_runs_real_commands() -> None:
    assert dockerfile_instruction("ENTRYPOINT") == ["gymfloor"]
    command = dockerfile_instruction("CMD")
    done = gymfloor(*command, "--help")
    assert done.returncode == 0, done.stderr


def test_dockerfile_copies_what_exists() -> None:
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), line
    text = DOCKERFILE.read_text()
    assert "FROM node:20-bookworm-slim" in text
    assert "FROM python:3.11-slim-bookworm" in text
    assert "USER gymfloor" in text
    assert "GYMFLOOR_DATA_DIR=/data" in text


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


def test_the_image_contains_the_static_files() -> None:
    """The image installs gymfloor as a wheel: files of the API's static directory reach it
    only if the package data lists them."""
    static = ROOT / "services" / "gymfloor" / "api" / "static"
    files = [p.relative_to(static.parent.parent).as_posix() for p in static.rglob("*")]
    files = [f for f in files if (static.parent.parent / f).is_file()]
    if not files:
        pytest.skip("no static files yet")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["gymfloor"]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert not missing, f"not in [tool.setuptools.package-data] gymfloor: {missing}"


# -- the ACL, read ---------------------------------------------------------------------------


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching: `+` one level, `#` the rest."""
    parts, levels = pattern.split("/"), topic.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(parts) == len(levels)


def acl_rules(user: str, patterns: bool = True) -> list[tuple[str, str]]:
    """(access, topic filter) that Mosquitto's acl_file grants `user`: the patterns, with %u
    replaced (unless `patterns` is false), and the `topic` lines of the user's own section."""
    rules, section = [], None
    for raw in (MOSQUITTO_DIR / "acl").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user":
            section = words[1]
        elif words[0] in ("topic", "pattern"):
            access, topic = (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
            if words[0] == "pattern" and patterns:
                rules.append((access, topic.replace("%u", user)))
            elif section == user:
                rules.append((access, topic))
        else:
            raise AssertionError(f"unexpected ACL line {raw!r}")
    return rules


def allowed(user: str, access: str, topic: str) -> bool:
    return any(a in (access, "readwrite") and topic_matches(f, topic) for a, f in acl_rules(user))


def test_acl_lets_a_machine_publish_and_read_only_its_own_topics() -> None:
    for gym in GYMS:
        own, other = MachineKey(gym, MACHINE), MachineKey(gym, OTHER)
        for channel in MachineChannel:
            publishes = channel in INGEST_CHANNELS
            assert allowed(MACHINE, "write", own.topic(channel)) == publishes, channel
            assert not allowed(MACHINE, "write", other.topic(channel)), channel
            assert not allowed(MACHINE, "read", other.topic(channel)), channel
        assert allowed(MACHINE, "read", own.topic(MachineChannel.FEEDBACK))
        assert not allowed(MACHINE, "read", own.topic(MachineChannel.TELEMETRY))
        assert not allowed(MACHINE, "write", alerts_topic(gym))
        assert not allowed(MACHINE, "read", alerts_topic(gym))
    assert not allowed(MACHINE, "read", "gymfloor/v1/#")


def test_acl_lets_ingest_read_every_machine_and_publish_its_outputs() -> None:
    outputs = (MachineChannel.FEEDBACK, MachineChannel.REPS, MachineChannel.REJECTED)
    for gym in GYMS:
        for machine in (MACHINE, OTHER):
            key = MachineKey(gym, machine)
            for channel in INGEST_CHANNELS:
                assert allowed("ingest", "read", key.topic(channel))
            for channel in outputs:
                assert allowed("ingest", "write", key.topic(channel))
        assert allowed("ingest", "write", alerts_topic(gym))


def test_acl_confines_the_simulator_to_its_gym() -> None:
    for channel in INGEST_CHANNELS:
        assert allowed("simulator", "write", MachineKey("sim", "lp-01").topic(channel))
        assert not allowed("simulator", "write", MachineKey("g1", "lp-01").topic(channel))
    assert not allowed("simulator", "write", alerts_topic("sim"))


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

    url = f"sqlite:///{tmp_path / 'gymfloor.db'}"
    store = OperationalStore(url)
    try:
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

        engine = create_engine(url)
        with engine.begin() as db:
            db.execute(update(schema.ingest_status).values(updated_at=0.0))
        engine.dispose()
        done = in_container(tmp_path, "check", "ingest")
        assert done.returncode == 1 and "last reported" in done.stderr
    finally:
        store.close()


def test_store_upgrade_and_ingest_check_take_the_storage_flags(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    done = in_container(tmp_path, "store", "upgrade", "--data-dir", str(elsewhere))
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "gymfloor.db").is_file() and not (tmp_path / "gymfloor.db").exists()
    url = f"sqlite:///{elsewhere / 'gymfloor.db'}"
    done = in_container(tmp_path, "check", "ingest", "--db-url", url)
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
