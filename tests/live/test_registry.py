"""The machine registry: `gymfloor machines` on the store, and `gymfloor ingest` with
GYMFLOOR_INGEST__REQUIRE_REGISTERED against a real Mosquitto."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gymfloor.contract import MachineKey
from gymfloor.storage import OperationalStore
from gymfloor.storage.registry import (
    AlreadyRegistered,
    mosquitto_hash,
    register_machine,
    remove_machine,
)
from tests.support.processes import Mosquitto, PostgreSQL, gymfloor, ingest, wait_until

UNREGISTERED_SENT = 3


def machines(data_dir: Path, *args: str) -> tuple[int, str, str]:
    done = gymfloor("machines", *args, "--data-dir", str(data_dir))
    return done.returncode, done.stdout, done.stderr


def stored_hash(data_dir: Path, gym: str, machine: str) -> str:
    with sqlite3.connect(data_dir / "gymfloor.db") as db:
        query = "select password_hash from registered_machines where gym_id=? and machine_id=?"
        (row,) = db.execute(query, (gym, machine)).fetchall()
    return str(row[0])


def test_machines_add_prints_a_password_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    code, out, _ = machines(tmp_path, "add", "g1", "lp-01")
    assert code == 0
    password = out.strip()
    assert out == password + "\n" and len(password) >= 32
    stored = stored_hash(tmp_path, "g1", "lp-01")
    assert password not in stored
    _, kind, _, salt, _ = stored.split("$")
    assert kind == "7" and stored == mosquitto_hash(password, base64.b64decode(salt))

    code, out, err = machines(tmp_path, "add", "g1", "lp-01")
    assert code == 1 and out == ""
    assert "g1.lp-01 is registered already" in err
    assert stored_hash(tmp_path, "g1", "lp-01") == stored  # the first password still stands

    code, out, _ = machines(tmp_path, "password", "g1", "lp-01")
    renewed = out.strip()
    assert code == 0 and len(renewed) >= 32 and renewed != password
    stored = stored_hash(tmp_path, "g1", "lp-01")
    assert stored == mosquitto_hash(renewed, base64.b64decode(stored.split("$")[3]))
    code, out, err = machines(tmp_path, "password", "g1", "lp-09")
    assert code == 1 and out == "" and "g1.lp-09 is not registered" in err

    assert machines(tmp_path, "add", "g2", "lp-01")[0] == 0  # the same id in another gym
    code, out, _ = machines(tmp_path, "list")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(m["gym_id"], m["machine_id"], m["login"]) for m in listed] == [
        ("g1", "lp-01", "g1.lp-01"),
        ("g2", "lp-01", "g2.lp-01"),
    ]
    assert password not in out and "$7$" not in out

    assert machines(tmp_path, "remove", "g1", "lp-01")[0] == 0
    code, _, err = machines(tmp_path, "remove", "g1", "lp-01")
    assert code == 1 and "g1.lp-01 is not registered" in err


def test_the_registry_on_postgresql() -> None:
    with PostgreSQL() as server:
        store = OperationalStore(server.new_database("registry"))
        try:
            with store.transaction() as db:
                register_machine(db, "g1", "lp-01", 1.0)
                register_machine(db, "g2", "lp-01", 1.0)
            with pytest.raises(AlreadyRegistered), store.transaction() as db:
                register_machine(db, "g1", "lp-01", 2.0)
            assert store.registered_machines() == {
                MachineKey("g1", "lp-01"),
                MachineKey("g2", "lp-01"),
            }
            with store.transaction() as db:
                assert remove_machine(db, "g2", "lp-01")
                assert not remove_machine(db, "g2", "lp-01")
            assert store.registered_machines() == {MachineKey("g1", "lp-01")}
        finally:
            store.close()


def telemetry(seq: int) -> bytes:
    samples = 50
    return json.dumps(
        {
            "v": 1,
            "seq": seq,
            "t0": time.time(),
            "hz": 50.0,
            "sled_mm": [100.0] * samples,
            "lumbar_kpa": [5.0] * samples,
        }
    ).encode()


def present(data_dir: Path) -> set[tuple[str, str]]:
    """The machines ingest has stored as seen."""
    with sqlite3.connect(data_dir / "gymfloor.db") as db:
        return {(g, m) for g, m in db.execute("select gym_id, machine_id from machines")}


def test_ingest_requiring_registration_refuses_and_counts_strangers(tmp_path: Path) -> None:
    assert machines(tmp_path, "add", "g1", "lp-01")[0] == 0
    with (
        Mosquitto(tmp_path / "broker") as broker,
        ingest(
            broker,
            tmp_path,
            GYMFLOOR_INGEST__REQUIRE_REGISTERED="true",
            GYMFLOOR_INGEST__REGISTRY_REFRESH_S="0.2",
            GYMFLOOR_INGEST__STATS_INTERVAL_S="1",
        ) as service,
    ):
        service.wait_for_log("subscribed")
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="devices")
        device.connect("127.0.0.1", broker.port)
        device.loop_start()
        seq = 0

        def send(machine: str) -> None:
            nonlocal seq
            seq += 1
            topic = f"gymfloor/v1/g1/{machine}/telemetry"
            device.publish(topic, telemetry(seq), qos=1).wait_for_publish(10)

        for _ in range(UNREGISTERED_SENT):
            send("lp-02")
        send("lp-01")
        wait_until(lambda: ("g1", "lp-01") in present(tmp_path), 30, "lp-01 stored as seen")
        service.wait_for_log("machine g1/lp-02 is not registered")
        service.wait_for_log(f"unregistered={UNREGISTERED_SENT}")
        assert ("g1", "lp-02") not in present(tmp_path)

        # Registered while ingest runs: accepted once ingest has read the registry again.
        assert machines(tmp_path, "add", "g1", "lp-02")[0] == 0

        def accepted() -> bool:
            send("lp-02")
            return ("g1", "lp-02") in present(tmp_path)

        wait_until(accepted, 30, "lp-02 accepted after its registration")
        device.disconnect()
        device.loop_stop()
        assert service.stop() == 0
    assert any("machine g1/lp-02 is not registered" in line for line in service.log)
