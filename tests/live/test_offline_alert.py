"""The `machine_offline` alert end to end, on a real Mosquitto and on partitioned ingest over a
real NATS server: edge agents with and without a member on them leave by their will (a process
killed without DISCONNECT), by their goodbye and by silence, and come back; ingest raises one
alert an outage, clears it, and keeps both across its own restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gymfloor.contract import MACHINE_OFFLINE, MachineKey, StaffAlert, alerts_topic
from gymfloor.mqtt.config import parse_mqtt_url
from gymfloor.storage import OperationalStore
from gymfloor.storage.alerts import AlertFilter, page_alerts
from gymfloor.storage.models import AlertRecord
from tests.support import ROOT
from tests.support.machines import Machine
from tests.support.nats import NatsServer, ingest_worker
from tests.support.processes import (
    INFLUX_DATABASE,
    InfluxDB,
    Mosquitto,
    Service,
    influx_env,
    influx_for_ingest,
    ingest,
    wait_until,
)

GYM = "g1"
OFFLINE_AFTER_S = 2.0
SETTLE_S = 3 * OFFLINE_AFTER_S
"""How long a test lets ingest go on after an outage, for a second alert to show if it would."""


class Alerts:
    """Every alert published on the gym's alerts topic, as it comes."""

    def __init__(self, mqtt_url: str) -> None:
        self.received: list[StaffAlert] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alerts-watcher")
        topic = alerts_topic(GYM)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.received.append(
            StaffAlert.model_validate_json(m.payload)
        )
        address = parse_mqtt_url(mqtt_url)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, "the alerts watcher to connect")

    def of(self, machine: str) -> tuple[list[StaffAlert], list[StaffAlert]]:
        """The machine's offline alerts as raised, and as cleared."""
        mine = [a for a in self.received if a.machine_id == machine and a.kind == MACHINE_OFFLINE]
        return [a for a in mine if a.cleared_at is None], [a for a in mine if a.cleared_at]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def kill_without_disconnect(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def stored(directory: Path) -> dict[str, AlertRecord]:
    store = OperationalStore(f"sqlite:///{directory / 'gymfloor.db'}")
    try:
        with store.read() as db:
            records = page_alerts(db, AlertFilter(), None, 500).items
    finally:
        store.close()
    return {a.id: a for a in records if a.kind == MACHINE_OFFLINE}


def open_sessions(directory: Path) -> int:
    store = OperationalStore(f"sqlite:///{directory / 'gymfloor.db'}")
    try:
        return sum(s["t_end"] is None for s in store.sessions())
    finally:
        store.close()


def started(broker: Mosquitto, directory: Path, **env: str) -> Service:
    service = ingest(
        broker, directory, GYMFLOOR_ALERTS__OFFLINE_AFTER_S=str(OFFLINE_AFTER_S), **env
    ).start()
    service.wait_for_log("subscribed")
    return service


def spawn(mqtt_url: str, machine: str, directory: Path) -> subprocess.Popen[bytes]:
    """A machine with a member on it, in a process of its own."""
    command = [sys.executable, "-m", "tests.support.machines", mqtt_url, GYM, machine]
    return subprocess.Popen(
        [*command, str(directory), f"m-{machine.removeprefix('lp-')}"], cwd=ROOT
    )


Seen = dict[str, tuple[list[StaffAlert], list[StaffAlert]]]
MACHINES = ("lp-will", "lp-bye", "lp-quiet", "lp-free")


def leave_and_come_back(url: str, data_dir: Path, watcher: Alerts) -> tuple[Seen, Seen]:
    """Machines with a member leave by their will, their goodbye and silence, and a free one by
    its goodbye; then they come back. What the watcher saw once they left, and once back."""
    edges = data_dir / "edges"
    will = spawn(url, "lp-will", edges)
    try:
        bye = Machine(url, MachineKey(GYM, "lp-bye"), edges, "m-bye").start()
        quiet = Machine(url, MachineKey(GYM, "lp-quiet"), edges, "m-quiet").start()
        free = Machine(url, MachineKey(GYM, "lp-free"), edges, None).start()
        wait_until(lambda: open_sessions(data_dir) == 3, 30, "three members checked in")

        kill_without_disconnect(will)
        bye.stop()
        quiet.driver.paused.set()
        free.stop()
        wait_until(
            lambda: all(watcher.of(m)[0] for m in MACHINES[:3]),
            30,
            "an alert for each machine with a member",
        )
        time.sleep(SETTLE_S)  # ingest's silence checks go on meanwhile
        left = {m: watcher.of(m) for m in MACHINES}

        will = spawn(url, "lp-will", edges)
        back = Machine(url, MachineKey(GYM, "lp-bye"), edges, None).start()
        quiet.driver.paused.clear()
        wait_until(lambda: all(watcher.of(m)[1] for m in MACHINES[:3]), 30, "each alert cleared")
        time.sleep(SETTLE_S)
        # Taken before the machines stop: their members never checked out, so a goodbye now
        # would be another outage with them on it.
        returned = {m: watcher.of(m) for m in MACHINES}
        back.stop()
        quiet.stop()
    finally:
        will.kill()
        will.wait(30)
    return left, returned


def assert_one_alert_each_cleared(left: Seen, returned: Seen, data_dir: Path) -> None:
    assert left["lp-free"] == returned["lp-free"] == ([], [])
    for machine, cause in [
        ("lp-will", "lost its connection"),
        ("lp-bye", "signed off"),
        ("lp-quiet", f"silent for over {OFFLINE_AFTER_S:g} s"),
    ]:
        (alert,), none_cleared = left[machine]
        assert none_cleared == []
        assert cause in alert.message and alert.member_id == f"m-{machine.removeprefix('lp-')}"
        assert returned[machine][0] == [alert]  # still one, after it came back
        (cleared,) = returned[machine][1]
        assert cleared.id == alert.id and cleared.cleared_at is not None
        assert cleared.cleared_at > alert.t
        assert stored(data_dir)[alert.id].cleared_at == cleared.cleared_at


def test_will_goodbye_and_silence_each_raise_one_alert_cleared_on_return_and_a_free_machine_none(
    tmp_path: Path,
) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        watcher = Alerts(broker.url)
        service = started(broker, tmp_path)
        left, returned = leave_and_come_back(broker.url, tmp_path, watcher)
        assert service.stop() == 0
        watcher.close()
    assert_one_alert_each_cleared(left, returned, tmp_path)


def test_partitioned_ingest_raises_and_clears_the_same_alerts(tmp_path: Path) -> None:
    offline_after = {"GYMFLOOR_ALERTS__OFFLINE_AFTER_S": str(OFFLINE_AFTER_S)}
    with (
        NatsServer(tmp_path / "nats") as nats,
        ingest_worker(nats, tmp_path, **offline_after) as worker,
    ):
        worker.wait_for_log("sharing")
        watcher = Alerts(nats.mqtt_url)
        left, returned = leave_and_come_back(nats.mqtt_url, tmp_path, watcher)
        assert worker.stop() == 0
        watcher.close()
    assert_one_alert_each_cleared(left, returned, tmp_path)


def test_an_outage_outlives_an_ingest_restart_neither_forgotten_nor_raised_again(
    tmp_path: Path,
) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        watcher = Alerts(broker.url)
        service = started(broker, tmp_path)
        edges = tmp_path / "edges"
        will = spawn(broker.url, "lp-will", edges)
        try:
            quiet = Machine(broker.url, MachineKey(GYM, "lp-quiet"), edges, "m-quiet").start()
            wait_until(lambda: open_sessions(tmp_path) == 2, 30, "two members checked in")
            kill_without_disconnect(will)
            quiet.driver.paused.set()
            wait_until(
                lambda: all(watcher.of(m)[0] for m in ("lp-will", "lp-quiet")),
                30,
                "an alert for each",
            )
            assert service.stop() == 0
            # Back, with the broker handing over every retained status again; an outage is
            # neither raised again nor taken for over.
            service = started(broker, tmp_path)
            time.sleep(SETTLE_S)
            after_restart = {m: watcher.of(m) for m in ("lp-will", "lp-quiet")}

            will = spawn(broker.url, "lp-will", edges)
            quiet.driver.paused.clear()
            wait_until(
                lambda: all(watcher.of(m)[1] for m in ("lp-will", "lp-quiet")),
                30,
                "each alert cleared after the restart",
            )
            final = {m: watcher.of(m) for m in ("lp-will", "lp-quiet")}
            quiet.stop()
        finally:
            will.kill()
            will.wait(30)
        assert service.stop() == 0
        watcher.close()

    for machine in ("lp-will", "lp-quiet"):
        (alert,) = after_restart[machine][0]
        assert after_restart[machine][1] == []
        assert final[machine][0] == [alert]
        (cleared,) = final[machine][1]
        assert cleared.id == alert.id
        assert stored(tmp_path)[alert.id].cleared_at == cleared.cleared_at


def alert_points(db: InfluxDB, alert_id: str) -> list[dict[str, Any]]:
    return db.query(f"SELECT * FROM alert WHERE id = '{alert_id}'", INFLUX_DATABASE)


def test_a_cleared_alert_is_one_point_in_influxdb_with_its_cleared_at(tmp_path: Path) -> None:
    key = MachineKey(GYM, "lp-bye")
    with (
        influx_for_ingest(tmp_path / "influxdb") as (db, forwarder),
        Mosquitto(tmp_path / "broker") as broker,
    ):
        watcher = Alerts(broker.url)
        service = started(broker, tmp_path, **influx_env(forwarder.url))
        edges = tmp_path / "edges"
        first = Machine(broker.url, key, edges, "m-bye").start()
        wait_until(lambda: open_sessions(tmp_path) == 1, 30, "a member checked in")
        first.stop()
        wait_until(lambda: bool(watcher.of("lp-bye")[0]), 30, "the alert")
        back = Machine(broker.url, key, edges, None).start()
        wait_until(lambda: bool(watcher.of("lp-bye")[1]), 30, "the alert cleared")
        (alert,), (cleared,) = watcher.of("lp-bye")
        wait_until(
            lambda: any(p.get("cleared_at") is not None for p in alert_points(db, alert.id)),
            60,
            "the clearance in influxdb",
        )
        points = alert_points(db, alert.id)
        back.stop()
        assert service.stop() == 0
        watcher.close()
    (point,) = points  # the raise and the clearance wrote the same point
    assert point["kind"] == MACHINE_OFFLINE and point["member_id"] == "m-bye"
    assert point["cleared_at"] == cleared.cleared_at
