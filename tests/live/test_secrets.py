"""No password reaches a log line or an error message: the real `gymfloor` commands, given
credentials inside settings that are wrong or servers that refuse or are not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from gymfloor.ports import free_port
from tests.support.processes import Mosquitto, PostgreSQL, Service, gymfloor

SECRET = "hunter2-Zq9"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GYMFLOOR_MQTT_URL", f"mqtp://ingest:{SECRET}@broker:1883"),
        ("GYMFLOOR_MQTT_URL", f"mqtt://ingest:{SECRET}@broker:no-port"),
        ("GYMFLOOR_MQTT_URL", f"mqtt://ingest:{SECRET}@:1883"),
        ("GYMFLOOR_INFLUX__URL", f"ftp://gymfloor:{SECRET}@influxdb:8086"),
    ],
)
def test_an_invalid_setting_is_refused_without_its_password(
    variable: str, value: str, tmp_path: Path
) -> None:
    done = gymfloor(
        "ingest",
        env={
            variable: value,
            "GYMFLOOR_DATA_DIR": str(tmp_path),
            "GYMFLOOR_MQTT_PASSWORD": SECRET,
            "GYMFLOOR_NATS_PASSWORD": SECRET,
            "GYMFLOOR_INFLUX__TOKEN": SECRET,
        },
    )
    assert done.returncode == 2
    assert variable.removeprefix("GYMFLOOR_").lower().replace("__", ".") in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_servers_that_refuse_or_are_absent_are_reported_without_the_password(
    tmp_path: Path,
) -> None:
    closed = free_port()
    with Mosquitto(tmp_path / "broker", users={"ingest": "the-right-one"}) as broker:
        service = Service(
            "ingest",
            env={
                "GYMFLOOR_MQTT_URL": broker.url.replace("://", f"://ingest:{SECRET}@"),
                "GYMFLOOR_NATS_URL": f"nats://ingest:{SECRET}@127.0.0.1:{closed}",
                "GYMFLOOR_DATA_DIR": str(tmp_path / "ingest"),
            },
        )
        with service:
            service.wait_for_log("cannot reach NATS at")
            service.wait_for_log("refused the connection")
            service.stop()
    check = gymfloor(
        "check",
        "ingest",
        env={"GYMFLOOR_DB_URL": f"postgresql+psycopg://gymfloor:{SECRET}@127.0.0.1:{closed}/g"},
    )
    assert check.returncode != 0 and "cannot read the store" in check.stdout + check.stderr
    for log in (service.log, [check.stdout, check.stderr]):
        assert not any(SECRET in line for line in log), "".join(log)


def test_a_store_that_refuses_the_login_is_reported_without_the_password() -> None:
    with PostgreSQL() as postgres:
        url = postgres.url.replace("postgres@", f"nobody:{SECRET}@")
        upgrade = gymfloor("store", "upgrade", env={"GYMFLOOR_DB_URL": url})
        check = gymfloor("check", "ingest", env={"GYMFLOOR_DB_URL": url})
    for done in (upgrade, check):
        assert done.returncode != 0 and '"nobody"' in done.stderr, done.stderr
        assert SECRET not in done.stdout + done.stderr
