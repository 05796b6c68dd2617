"""The stacks refuse the development defaults: deploy/check-defaults run for real (with the
values .env.example gives, with them replaced, with and without GYMFLOOR_DEV=1), and both
compose files make every service wait for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import (
    CLUSTER_COMPOSE,
    COMPOSE,
    check_defaults,
    development_defaults,
    env_example,
    load_compose,
)

CHECK = "check-defaults"


def test_env_example_marks_every_secret_it_sets() -> None:
    marked = development_defaults()
    assert {"MQTT_INGEST_PASSWORD", "INFLUXDB_ADMIN_TOKEN", "POSTGRES_PASSWORD"} <= set(marked)
    assert all(env_example()[name] == value for name, value in marked.items())


def test_the_development_defaults_are_refused(tmp_path: Path) -> None:
    done = check_defaults(tmp_path, **env_example())
    assert done.returncode == 1
    assert "refusing to start" in done.stderr and "GYMFLOOR_DEV=1" in done.stderr
    for name in development_defaults():
        assert name in done.stderr, name


@pytest.mark.parametrize("flag", ["0", "yes", ""])
def test_only_gymfloor_dev_1_allows_them(flag: str, tmp_path: Path) -> None:
    done = check_defaults(tmp_path, **{**env_example(), "GYMFLOOR_DEV": flag})
    assert done.returncode == 1, done.stderr


def test_a_test_machine_may_start_with_them_and_is_warned(tmp_path: Path) -> None:
    done = check_defaults(tmp_path, **{**env_example(), "GYMFLOOR_DEV": "1"})
    assert done.returncode == 0, done.stderr
    assert "WARNING" in done.stderr and "MQTT_INGEST_PASSWORD" in done.stderr


def test_one_default_left_is_named_alone(tmp_path: Path) -> None:
    replaced = {name: f"{name.lower()}-a-real-secret" for name in development_defaults()}
    done = check_defaults(tmp_path, **{**env_example(), **replaced})
    assert done.returncode == 0, done.stderr
    left = {**replaced, "GRAFANA_ADMIN_PASSWORD": development_defaults()["GRAFANA_ADMIN_PASSWORD"]}
    done = check_defaults(tmp_path, **{**env_example(), **left})
    assert done.returncode == 1
    assert done.stderr.split(".env.example:")[1].split(".")[0].split() == ["GRAFANA_ADMIN_PASSWORD"]


def test_an_empty_secret_is_not_a_default(tmp_path: Path) -> None:
    """The simulator's password may be left empty; the other services refuse empty ones."""
    done = check_defaults(tmp_path, MQTT_SIMULATOR_PASSWORD="")
    assert done.returncode == 0, done.stderr


@pytest.fixture(params=[COMPOSE, CLUSTER_COMPOSE], ids=["single", "cluster"])
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    path: Path = request.param
    return load_compose(env_example(), path)


def test_the_check_gets_every_marked_secret_and_its_script(compose: dict[str, Any]) -> None:
    check = compose["services"][CHECK]
    assert set(check["environment"]) == {"GYMFLOOR_DEV", *development_defaults()}
    for name, value in check["environment"].items():
        assert (value or "") == env_example()[name], name  # passed as .env has it
    assert check["entrypoint"] == ["sh", "/check/check-defaults"]
    assert sorted(v.split(":")[1] for v in check["volumes"]) == [
        "/check/check-defaults",
        "/check/env.example",
    ]
    assert check["restart"] == "no"


def test_every_service_waits_for_the_check(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def waits(name: str) -> bool:
        needs = services[name].get("depends_on") or {}
        if needs.get(CHECK, {}).get("condition") == "service_completed_successfully":
            return True
        return bool(needs) and any(waits(other) for other in needs)

    late = [name for name in services if name != CHECK and not waits(name)]
    assert late == []
    assert "depends_on" not in services[CHECK]
