"""The production stacks (docker-compose.yml, docker-compose.cluster.yml, Dockerfile, deploy/),
read without Docker: the files agree with each other and with the code, and the broker's ACL and
the NATS cluster's permissions grant what each login needs and no more.
tests/live/test_compose.py runs the commands, the broker and the NATS cluster for real."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from gymfloor.contract.topics import INGEST_CHANNELS, MachineChannel, MachineKey, alerts_topic
from gymfloor.ingest.jetstream.subjects import consumer_name
from gymfloor.ingest.jetstream.topology import (
    CHECKPOINTS_BUCKET,
    PARTITIONS_BUCKET,
    WORKERS_BUCKET,
)
from gymfloor.settings import ENV_NESTING, ENV_PREFIX, Settings
from gymfloor.storage.timeseries.tokens import READERS, TOKEN_FILE
from tests.support import ROOT
from tests.support.grafana import TOKEN_DIRECTORY
from tests.support.stack import (
    CLUSTER_COMPOSE,
    COMPOSE,
    DOCKERFILE,
    ENV_EXAMPLE,
    MACHINE,
    MACHINE_KEY,
    MOSQUITTO_DIR,
    NATS_DIR,
    OTHER,
    OTHER_KEY,
    VARIABLE,
    acl_rules,
    development_defaults,
    env_example,
    is_ours,
    load_compose,
    nats_allowed,
    nats_init_auth,
    nats_users,
    subject_of_topic,
)

# Services without a health check, and why.
NO_HEALTHCHECK = {
    "check-defaults": "one-shot: refuses development defaults, then exits",
    "mosquitto-auth": "one-shot: writes the broker's password file and ACL, then exits",
    "store-init": "one-shot: brings the store's schema up to date, then exits",
    "influxdb-tokens": "one-shot: makes ingest's and Grafana's InfluxDB tokens, then exits",
    "simulator": "a demonstration tool nothing depends on; its machines' status topics show it",
}
# What each third-party image documents as its own settings.
IMAGE_ENV_PREFIXES = {
    "influxdb": ("DOCKER_INFLUXDB_INIT_",),
    "grafana/grafana-oss": ("GF_",),
    "eclipse-mosquitto": (),
    "nats": (),
    "postgres": ("POSTGRES_",),
}
GYMS = ("g1", "sim")  # a gym of machines, and the simulator's


# -- reading the files -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[COMPOSE, CLUSTER_COMPOSE], ids=["single", "cluster"])
def raw_compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each compose file, its variables as written."""
    path: Path = request.param
    return load_compose(path=path)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


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
    for name in ("check-defaults", "mosquitto-auth", "store-init"):
        assert compose["services"][name]["restart"] == "no", name


def test_dependencies_wait_for_health_or_completion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = (
                "service_completed_successfully"
                if dependency
                in ("check-defaults", "mosquitto-auth", "store-init", "influxdb-tokens")
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
            if variable.startswith(prefixes) or variable in development_defaults():
                continue  # check-defaults reads those by their mark in .env.example
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


def test_every_variable_is_in_env_example() -> None:
    """One .env serves both compose files."""
    used = {
        m["name"]
        for path in (COMPOSE, CLUSTER_COMPOSE)
        for m in VARIABLE.finditer(path.read_text())
        if m["name"]
    }
    defined = env_example()
    assert used - set(defined) == set(), "used by a compose file, missing in .env.example"
    assert set(defined) - used == set(), "in .env.example, unused by the compose files"


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


# -- the image ---------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def acl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ACL init-auth writes for the machines of NATS_PASSWORDS (the same as the broker's),
    with a stand-in for mosquitto_passwd: only the ACL is read here."""
    directory = tmp_path_factory.mktemp("mosquitto-auth")
    stub = directory / "bin" / "mosquitto_passwd"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\nprintf "%s:stub\\n" "$3" >>"$2"\n')
    stub.chmod(0o755)
    env = {
        "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
        "MOSQUITTO_AUTH_DIR": str(directory / "auth"),
        "MQTT_INGEST_PASSWORD": "x",
        "MQTT_HEALTHCHECK_PASSWORD": "x",
        "MQTT_MACHINES": NATS_PASSWORDS["MQTT_MACHINES"],
    }
    done = subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "init-auth")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return directory / "auth" / "acl"


def allowed(acl: Path, user: str, access: str, topic: str) -> bool:
    rules = acl_rules(user, acl=acl)
    return any(a in (access, "readwrite") and topic_matches(f, topic) for a, f in rules)


def test_acl_lets_a_machine_publish_and_read_only_its_own_topics(acl: Path) -> None:
    own = MACHINE_KEY
    elsewhere = MachineKey("g2", own.machine_id)  # the same machine id in another gym
    for channel in MachineChannel:
        publishes = channel in INGEST_CHANNELS
        assert allowed(acl, MACHINE, "write", own.topic(channel)) == publishes, channel
        for other in (OTHER_KEY, elsewhere):
            assert not allowed(acl, MACHINE, "write", other.topic(channel)), (other, channel)
            assert not allowed(acl, MACHINE, "read", other.topic(channel)), (other, channel)
    assert allowed(acl, MACHINE, "read", own.topic(MachineChannel.FEEDBACK))
    assert not allowed(acl, MACHINE, "read", own.topic(MachineChannel.TELEMETRY))
    for gym in (*GYMS, elsewhere.gym_id):
        assert not allowed(acl, MACHINE, "write", alerts_topic(gym))
        assert not allowed(acl, MACHINE, "read", alerts_topic(gym))
    assert not allowed(acl, MACHINE, "read", "gymfloor/v1/#")


def test_acl_lets_ingest_read_every_machine_and_publish_its_outputs(acl: Path) -> None:
    outputs = (MachineChannel.FEEDBACK, MachineChannel.REPS, MachineChannel.REJECTED)
    for gym in GYMS:
        for machine in (MACHINE_KEY.machine_id, OTHER_KEY.machine_id):
            key = MachineKey(gym, machine)
            for channel in INGEST_CHANNELS:
                assert allowed(acl, "ingest", "read", key.topic(channel))
            for channel in outputs:
                assert allowed(acl, "ingest", "write", key.topic(channel))
        assert allowed(acl, "ingest", "write", alerts_topic(gym))


def test_acl_confines_the_simulator_to_its_gym(acl: Path) -> None:
    for channel in INGEST_CHANNELS:
        assert allowed(acl, "simulator", "write", MachineKey("sim", "lp-01").topic(channel))
        assert not allowed(acl, "simulator", "write", MachineKey("g1", "lp-01").topic(channel))
    assert not allowed(acl, "simulator", "write", alerts_topic("sim"))


# -- the cluster (docker-compose.cluster.yml) ---------------------------------------------------

NATS_NODES = ("nats-1", "nats-2", "nats-3")
# The cluster's services without a health check, and why.
CLUSTER_NO_HEALTHCHECK = {
    "check-defaults": NO_HEALTHCHECK["check-defaults"],
    "nats-auth": "one-shot: writes the cluster's users and the routes' credentials, then exits",
    "store-init": NO_HEALTHCHECK["store-init"],
    "influxdb-tokens": NO_HEALTHCHECK["influxdb-tokens"],
    "ingest": "a worker reports a status per partition it holds, not one of its own; the "
    "API's /readyz covers them all",
    "simulator": NO_HEALTHCHECK["simulator"],
}
ONE_SHOTS = ("check-defaults", "nats-auth", "store-init", "influxdb-tokens")
# The services the cluster takes from docker-compose.yml, and what it adds to each.
REUSED: dict[str, set[str]] = {
    "check-defaults": set(),
    "influxdb": set(),
    "influxdb-tokens": set(),
    "grafana": set(),
    "store-init": {"GYMFLOOR_DB_URL"},
    "api": {"GYMFLOOR_DB_URL"},
}


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    """The cluster's compose file with .env.example's values, `extends` resolved."""
    return load_compose(env_example(), CLUSTER_COMPOSE)


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    return load_compose(env_example())


def named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Container path → named volume."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def test_cluster_long_running_services_have_health_checks(cluster: dict[str, Any]) -> None:
    services = cluster["services"]
    for name, service in services.items():
        if name in CLUSTER_NO_HEALTHCHECK:
            continue
        assert service["healthcheck"]["test"], f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name
    for name in CLUSTER_NO_HEALTHCHECK:
        assert name in services, f"{name} is listed here but not in the cluster's compose file"
    assert services["ingest"]["restart"] == "unless-stopped"
    for name in ONE_SHOTS:
        assert services[name]["restart"] == "no", name


def test_cluster_dependencies_wait_for_health_or_completion(cluster: dict[str, Any]) -> None:
    services = cluster["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            )
            assert condition["condition"] == wanted, f"{name} → {dependency}"
            assert dependency in services, f"{name} → {dependency}"
    for name in NATS_NODES:
        assert set(services[name]["depends_on"]) == {"nats-auth"}, name
    ingest = set(services["ingest"]["depends_on"])
    assert ingest == {"store-init", "postgres", "influxdb", "influxdb-tokens", *NATS_NODES}
    assert set(services["store-init"]["depends_on"]) == {"check-defaults", "postgres"}


def test_extended_services_declare_their_dependencies() -> None:
    """Compose releases differ on whether `extends` carries depends_on over: each service of
    the cluster that extends one declares what the one it extends depends on itself."""
    raw = load_compose(path=CLUSTER_COMPOSE)
    written = yaml_services(CLUSTER_COMPOSE)
    base = load_compose(path=COMPOSE)["services"]
    extending = [name for name, service in written.items() if "extends" in service]
    assert sorted(extending) == sorted(REUSED)
    for name in extending:
        extends = written[name]["extends"]
        assert extends["file"] == COMPOSE.name
        wanted = set(base[extends["service"]].get("depends_on") or {})
        assert wanted <= set(written[name].get("depends_on") or {}), name
        assert "extends" not in raw["services"][name], name


def yaml_services(path: Path) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(path.read_text())["services"]
    return services


def test_cluster_reuses_the_single_host_services(
    cluster: dict[str, Any], single: dict[str, Any]
) -> None:
    for name, added in REUSED.items():
        ours, theirs = dict(cluster["services"][name]), dict(single["services"][name])
        ours_env, theirs_env = environment(ours), environment(theirs)
        assert set(ours_env) - set(theirs_env) == added, name
        assert {k: v for k, v in ours_env.items() if k in theirs_env} == theirs_env, name
        for service in (ours, theirs):
            service.pop("environment", None)
            service.pop("depends_on", None)
        assert ours == theirs, name


def test_cluster_runs_three_nats_nodes(cluster: dict[str, Any]) -> None:
    services = cluster["services"]
    nodes = {
        name
        for name, service in services.items()
        if service.get("image", "").startswith("nats:") and name != "nats-auth"
    }
    assert nodes == set(NATS_NODES)
    image = services["nats-auth"]["image"]
    tag = re.fullmatch(r"nats:(\d+)\.(\d+)\.(\d+)-alpine", image)
    assert tag, f"{image}: pin a release of the alpine image (it has sh and wget)"
    # Consumer priority groups, which partitioned ingest's failover rests on.
    assert (int(tag[1]), int(tag[2])) >= (2, 11), image
    data_volumes = set()
    published = set()
    for name in NATS_NODES:
        node = services[name]
        assert node["image"] == image, name
        assert environment(node)["NATS_SERVER_NAME"] == name
        assert (NATS_DIR / "nats.conf", "/etc/nats/nats-server.conf") in bind_mounts(node)
        volumes = named_volumes(node)
        assert volumes["/etc/nats/auth"] == "nats-auth", name
        assert "nats-auth:/etc/nats/auth:ro" in node["volumes"], name
        data_volumes.add(volumes["/data"])
        ports = [port for port in node["ports"] if port.endswith(":1883")]
        assert len(ports) == 1, name
        published.add(ports[0].split(":")[0])
        assert node["healthcheck"]["test"][-1] == "http://127.0.0.1:8222/healthz", name
        assert "nats-mqtt" in node["networks"]["default"]["aliases"], name
    assert len(data_volumes) == 3, "each node keeps its own JetStream store"
    assert data_volumes <= set(cluster["volumes"])
    assert len(published) == 3


def test_nats_config_clusters_the_nodes_with_jetstream_and_mqtt(cluster: dict[str, Any]) -> None:
    config = (NATS_DIR / "nats.conf").read_text()
    settings = [line.strip() for line in config.splitlines() if not line.strip().startswith("#")]
    assert "server_name: $NATS_SERVER_NAME" in settings
    assert "http_port: 8222" in settings  # the health check's
    assert "store_dir: /data/jetstream" in settings  # in the node's data volume
    # MQTT sessions and QoS 1 messages on three nodes, as the stream is.
    assert "stream_replicas: 3" in settings
    assert 'include "auth/cluster.conf"' in settings
    assert 'include "auth/accounts.conf"' in settings
    auth = cluster["services"]["nats-auth"]
    assert (NATS_DIR, "/deploy") in bind_mounts(auth)
    assert auth["entrypoint"] == ["sh", "/deploy/init-auth"]
    env = environment(auth)
    assert env["NATS_NODES"].split(",") == list(NATS_NODES)
    assert named_volumes(auth)[env["NATS_AUTH_DIR"]] == "nats-auth"


def test_cluster_ingest_workers_share_the_nats_cluster(
    cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = cluster["services"]
    ingest = services["ingest"]
    assert ingest["command"] == ["ingest"]
    assert int(ingest["deploy"]["replicas"]) >= 2
    assert "container_name" not in ingest
    env = environment(ingest)
    values = env_example()
    assert env["GYMFLOOR_NATS_URL"].split(",") == [f"nats://{n}:4222" for n in NATS_NODES]
    assert env["GYMFLOOR_NATS_REPLICAS"] == str(len(NATS_NODES))
    assert env["GYMFLOOR_NATS_PARTITIONS"] == values["INGEST_PARTITIONS"]
    assert env["GYMFLOOR_NATS_USER"] == env["GYMFLOOR_MQTT_USERNAME"] == "ingest"
    password = values["MQTT_INGEST_PASSWORD"]
    assert env["GYMFLOOR_NATS_PASSWORD"] == env["GYMFLOOR_MQTT_PASSWORD"] == password
    # The outputs go to a NATS node's MQTT listener, never to Mosquitto.
    assert env["GYMFLOOR_MQTT_URL"] == "mqtt://nats-mqtt:1883"
    assert "mosquitto" not in services
    # Each worker its own spool: no volume at /data that two workers would share.
    assert "/data" not in named_volumes(ingest)
    assert ingest["stop_grace_period"] == "60s"
    # What gymfloor makes of these settings (the token file as influxdb-tokens writes it).
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    token_file = tmp_path / "token"
    token_file.write_text("write-only\n")
    monkeypatch.setenv("GYMFLOOR_INFLUX__TOKEN_FILE", str(token_file))
    nats = Settings().nats
    assert nats is not None
    assert nats.servers == tuple(f"nats://{n}:4222" for n in NATS_NODES)
    assert (nats.replicas, nats.partitions, nats.user) == (3, 16, "ingest")


def test_cluster_keeps_the_store_in_postgres(cluster: dict[str, Any]) -> None:
    services = cluster["services"]
    postgres = environment(services["postgres"])
    url = (
        f"postgresql+psycopg://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name in ("store-init", "ingest", "api"):
        assert environment(services[name])["GYMFLOOR_DB_URL"] == url, name
    assert named_volumes(services["postgres"]) == {"/var/lib/postgresql/data": "postgres-data"}
    assert "postgres-data" in cluster["volumes"]
    # Letters, digits, _ and -: the password goes into the URL as written.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", env_example()["POSTGRES_PASSWORD"])
    assert re.fullmatch(r"[A-Za-z0-9_-]+", env_example()["NATS_ROUTE_PASSWORD"])


def test_the_image_has_the_driver_of_the_cluster_store(cluster: dict[str, Any]) -> None:
    url = environment(cluster["services"]["ingest"])["GYMFLOOR_DB_URL"]
    assert url.startswith("postgresql+psycopg://")
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert any("[postgres]" in line for line in installs), installs


def test_cluster_needs_its_secrets() -> None:
    values = env_example()
    for secret in ("POSTGRES_PASSWORD", "NATS_ROUTE_PASSWORD", "MQTT_INGEST_PASSWORD"):
        env = {k: v for k, v in values.items() if k != secret}
        with pytest.raises(AssertionError, match=f"{secret} is required"):
            load_compose(env, CLUSTER_COMPOSE)
    env = {k: v for k, v in values.items() if "PASSWORD" not in k and "TOKEN" not in k}
    with pytest.raises(AssertionError, match="is required"):
        load_compose(env, CLUSTER_COMPOSE)


# -- the NATS cluster's users, read -------------------------------------------------------------

NATS_PASSWORDS = {
    "MQTT_INGEST_PASSWORD": 'ingest "secret" \\ with quotes',
    "MQTT_SIMULATOR_PASSWORD": "sim-secret",
    "MQTT_MACHINES": f"{MACHINE}:machine-secret,{OTHER}:other:secret",
    "NATS_ROUTE_PASSWORD": "route-secret",
    "NATS_NODES": ",".join(NATS_NODES),
}


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("nats-auth")
    done = nats_init_auth(directory, **NATS_PASSWORDS)
    assert done.returncode == 0, done.stderr
    return nats_users(directory)


def test_nats_users_are_those_of_the_broker(users: dict[str, dict[str, Any]]) -> None:
    assert list(users) == ["ingest", "simulator", MACHINE, OTHER]
    assert users["ingest"]["password"] == NATS_PASSWORDS["MQTT_INGEST_PASSWORD"]
    assert users[OTHER]["password"] == "other:secret"
    # Its health check reads the monitoring port: the cluster has no `healthcheck` login.
    assert "healthcheck" not in users


def topics_to_check() -> Iterator[str]:
    for gym in GYMS:
        yield alerts_topic(gym)
        for machine in (MACHINE_KEY.machine_id, OTHER_KEY.machine_id, "lp-01"):
            for channel in MachineChannel:
                yield MachineKey(gym, machine).topic(channel)


@pytest.mark.parametrize("user", [MACHINE, "simulator"])
def test_nats_permissions_are_the_acl_on_subjects(
    users: dict[str, dict[str, Any]], user: str, acl: Path
) -> None:
    """Where Mosquitto lets a login write or read a topic, NATS lets it publish or subscribe to
    the topic's subject, and nowhere else."""
    checked = 0
    for topic in topics_to_check():
        subject = subject_of_topic(topic)
        publishes = allowed(acl, user, "write", topic)
        assert nats_allowed(users[user], "publish", subject) == publishes, topic
        reads = allowed(acl, user, "read", topic)
        assert nats_allowed(users[user], "subscribe", subject) == reads, topic
        checked += 1
    assert checked > 30


def test_nats_ingest_publishes_the_outputs_and_reads_through_the_stream(
    users: dict[str, dict[str, Any]], acl: Path
) -> None:
    """Ingest publishes what the ACL lets it write; it reads the machines' input from the
    stream, so it subscribes to no topic's subject (Mosquitto's ingest reads them)."""
    ingest = users["ingest"]
    for topic in topics_to_check():
        subject = subject_of_topic(topic)
        publishes = allowed(acl, "ingest", "write", topic)
        assert nats_allowed(ingest, "publish", subject) == publishes, topic
        assert not nats_allowed(ingest, "subscribe", subject), topic


def test_nats_ingest_may_use_what_partitioned_ingest_uses(
    users: dict[str, dict[str, Any]],
) -> None:
    ingest = users["ingest"]
    for subject in (
        "$JS.API.STREAM.CREATE.GYMFLOOR",
        f"$JS.API.CONSUMER.CREATE.GYMFLOOR.{consumer_name(3)}",
        f"$JS.API.CONSUMER.MSG.NEXT.GYMFLOOR.{consumer_name(3)}",
        f"$JS.API.CONSUMER.UNPIN.GYMFLOOR.{consumer_name(3)}",
        "$JS.API.STREAM.PURGE.GYMFLOOR",
        f"$JS.API.DIRECT.GET.KV_{PARTITIONS_BUCKET}.$KV.{PARTITIONS_BUCKET}.p3",
        f"$KV.{PARTITIONS_BUCKET}.p3",
        f"$KV.{WORKERS_BUCKET}.gymfloor-ingest-host-1",
        f"$O.{CHECKPOINTS_BUCKET}.C.abc",
        f"$O.{CHECKPOINTS_BUCKET}.M.cDMuMQ==",
        "$JS.FC.KV_gymfloor-workers.abc.1",
    ):
        assert nats_allowed(ingest, "publish", subject), subject
    assert nats_allowed(ingest, "subscribe", "_INBOX.abc.1")
    assert not nats_allowed(ingest, "publish", "$KV.someone-else.key")
    for user in (MACHINE, "simulator"):
        assert not nats_allowed(users[user], "publish", "$JS.API.STREAM.LIST"), user
        assert not nats_allowed(users[user], "subscribe", "_INBOX.abc"), user
        assert not nats_allowed(users[user], "publish", f"$KV.{PARTITIONS_BUCKET}.p0"), user


def test_nats_routes_log_in(tmp_path: Path) -> None:
    done = nats_init_auth(tmp_path, **NATS_PASSWORDS)
    assert done.returncode == 0, done.stderr
    cluster = (tmp_path / "cluster.conf").read_text()
    assert 'authorization { user: route, password: "route-secret" }' in cluster
    for node in NATS_NODES:
        assert f'"nats-route://route:route-secret@{node}:6222"' in cluster
    for name in ("accounts.conf", "cluster.conf"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"


def test_nats_init_auth_refuses_bad_settings(tmp_path: Path) -> None:
    base = {k: v for k, v in NATS_PASSWORDS.items() if k != "MQTT_MACHINES"}
    for machines, reason in (
        ("g1.lp-01", "has no password"),
        ("g1.lp 01:x", "has no password"),
        ("lp-01:x", "is not GYM.MACHINE"),
        ("g1.lp.01:x", "is not GYM.MACHINE"),
        ("g1.lp-*:x", "is not GYM.MACHINE"),
        ("g1.*:x", "is not GYM.MACHINE"),
        ("ingest:x", "is not GYM.MACHINE"),
        ("g1.lp-01:x,g1.lp-01:y", "listed twice"),
    ):
        done = nats_init_auth(tmp_path, **base, MQTT_MACHINES=machines)
        assert done.returncode != 0 and reason in done.stderr, (machines, done.stderr)
    for missing in ("MQTT_INGEST_PASSWORD", "NATS_ROUTE_PASSWORD", "NATS_NODES"):
        env = {k: v for k, v in base.items() if k != missing}
        done = nats_init_auth(tmp_path, **env)
        assert done.returncode != 0 and missing in done.stderr, (missing, done.stderr)
    done = nats_init_auth(tmp_path, **{**base, "NATS_ROUTE_PASSWORD": "a@b"})
    assert done.returncode != 0 and "letters, digits" in done.stderr
    done = nats_init_auth(tmp_path, **{**base, "MQTT_SIMULATOR_PASSWORD": ""})
    assert done.returncode == 0, done.stderr
    assert list(nats_users(tmp_path)) == ["ingest"]


@pytest.mark.parametrize("stack", ["single", "cluster"])
def test_only_influxdb_tokens_holds_the_admin_token_and_each_reader_mounts_its_own(
    stack: str, single: dict[str, Any], cluster: dict[str, Any]
) -> None:
    services = (single if stack == "single" else cluster)["services"]
    admin = env_example()["INFLUXDB_ADMIN_TOKEN"]
    holders = {name for name, service in services.items() if admin in environment(service).values()}
    assert holders == {"check-defaults", "influxdb", "influxdb-tokens"}

    tokens = services["influxdb-tokens"]
    directory = PurePosixPath(tokens["command"][tokens["command"].index("tokens") + 1])
    made = {PurePosixPath(path): volume for path, volume in named_volumes(tokens).items()}
    mounted = {
        "ingest": named_volumes(services["ingest"])[str(TOKEN_DIRECTORY)],
        "grafana": named_volumes(services["grafana"])[str(TOKEN_DIRECTORY)],
    }
    assert mounted == {r.name: made[directory / r.name] for r in READERS}
    assert len(set(mounted.values())) == len(READERS)
    for name, service in services.items():
        shared = set(named_volumes(service).values()) & set(mounted.values())
        assert name == "influxdb-tokens" or len(shared) <= 1, name
    token_file = environment(services["ingest"])["GYMFLOOR_INFLUX__TOKEN_FILE"]
    assert PurePosixPath(token_file) == TOKEN_DIRECTORY / TOKEN_FILE
