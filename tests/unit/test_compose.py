"""The production stack (docker-compose.yml, Dockerfile, deploy/), read without Docker: the
files agree with each other and with the code, and the broker's ACL grants what each login needs
and no more. tests/live/test_compose.py runs the commands and the broker for real."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from gymfloor.contract.topics import INGEST_CHANNELS, MachineChannel, MachineKey, alerts_topic
from gymfloor.settings import ENV_NESTING, ENV_PREFIX, Settings
from tests.support import ROOT
from tests.support.stack import (
    COMPOSE,
    DOCKERFILE,
    ENV_EXAMPLE,
    MACHINE,
    OTHER,
    VARIABLE,
    acl_rules,
    env_example,
    is_ours,
    load_compose,
)

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
GYMS = ("g1", "sim")  # a gym of machines, and the simulator's


# -- reading the files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return load_compose()


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
