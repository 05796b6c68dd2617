"""The live pipeline against real Mosquitto brokers started by the tests: replay and edge agents
in, `gymfloor ingest` in the middle, the operational store out, compared with `gymfloor analyze`
of the same recording."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gymfloor.contract import MachineKey
from gymfloor.mqtt import MqttOptions
from gymfloor_edge.agent import EdgeAgent
from gymfloor_edge.outbox import Outbox
from gymfloor_edge.sources import recording_driver
from gymfloor_edge.uplink import Uplink
from tests.support.floor import Report, exported, recording_span, stored_count
from tests.support.processes import Mosquitto, Service, ingest, replay, wait_until

PASSWORDS = {"gymfloor-ingest": "ingest-test-secret", "lp-01": "lp01-test", "lp-02": "lp02-test"}


def test_replayed_recording_gives_the_reports_of_analyze(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    with Mosquitto(tmp_path / "broker") as broker, ingest(broker, tmp_path) as service:
        service.wait_for_log("subscribed")
        with replay(broker, recording) as publisher:
            publisher.wait_for_log("replayed", timeout=120)
            assert publisher.process is not None and publisher.process.wait(60) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        assert service.stop() == 0
    assert exported(tmp_path) == expected


def test_ingest_killed_mid_stream_loses_and_repeats_nothing(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    speed = recording_span(recording) / 8.0  # the replay takes about 8 s
    with Mosquitto(tmp_path / "broker") as broker:
        service = ingest(broker, tmp_path).start()
        service.wait_for_log("subscribed")
        with replay(broker, recording, speed) as publisher:
            time.sleep(3.0)
            service.kill()
            reps_at_kill = stored_count(tmp_path)
            time.sleep(1.0)  # the broker keeps what arrives meanwhile for ingest's session
            service.start()
            assert publisher.process is not None and publisher.process.wait(60) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        assert service.stop() == 0
    assert 0 < reps_at_kill < len(expected)
    assert any("recovered" in line for line in service.log)
    assert exported(tmp_path) == expected


def edge(broker: Mosquitto, recording: Path, machine: str, data_dir: Path, speed: float) -> Service:
    return Service(
        "edge",
        "--gym",
        "g1",
        "--machine",
        machine,
        "--replay",
        str(recording),
        "--speed",
        str(speed),
        env={"GYMFLOOR_MQTT_URL": broker.url, "GYMFLOOR_DATA_DIR": str(data_dir)},
    )


def test_broker_restart_mid_stream_is_survived_by_ingest_and_edge(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    machines = ("lp-01", "lp-02")
    speed = recording_span(recording) / 10.0
    with Mosquitto(tmp_path / "broker") as broker:
        service = ingest(broker, tmp_path / "ingest").start()
        service.wait_for_log("subscribed")
        agents = [edge(broker, recording, m, tmp_path / m, speed).start() for m in machines]
        time.sleep(3.0)
        broker.stop()
        time.sleep(3.0)  # the agents buffer on disk; ingest retries
        broker.start()
        for agent in agents:
            assert agent.process is not None and agent.process.wait(90) == 0, agent.log[-5:]
            assert any("lost the connection" in line for line in agent.log)
        ours = [r for r in expected if r["machine_id"] in machines]
        wait_until(lambda: stored_count(tmp_path / "ingest") >= len(ours), 60, "every rep stored")
        assert service.stop() == 0
    assert any("lost the connection" in line for line in service.log)
    assert any("session_present=True" in line for line in service.log)  # the broker kept it
    assert exported(tmp_path / "ingest") == ours


class Watcher:
    """A subscriber that keeps its session across broker restarts and notes what arrives."""

    def __init__(self, broker: Mosquitto, topic: str, username: str | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"watcher-{time.monotonic_ns()}",
            clean_session=False,
        )
        if username:
            self.client.username_pw_set(username, PASSWORDS[username])
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, "the watcher to connect")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_edge_buffers_while_the_broker_is_down_and_then_delivers_in_order(
    recording: Path, tmp_path: Path
) -> None:
    broker = Mosquitto(tmp_path / "broker").start()
    watcher = Watcher(broker, "gymfloor/v1/g1/lp-03/#")
    time.sleep(0.5)
    speed = recording_span(recording) / 8.0
    outbox = Outbox(tmp_path / "lp-03.outbox")
    options = MqttOptions(url=broker.url, reconnect_max_s=1)
    machine_topic = "gymfloor/v1/g1/lp-03"
    uplink = Uplink(options, "edge-lp-03", outbox, machine=None)
    agent = EdgeAgent(
        MachineKey("g1", "lp-03"), recording_driver(recording, "lp-03", speed), uplink
    )
    running = threading.Thread(target=agent.run, args=(threading.Event(), 30.0))
    running.start()
    time.sleep(2.0)
    broker.stop()
    waiting_before = len(outbox)
    time.sleep(3.0)
    waiting_after = len(outbox)
    broker.start()
    running.join(60)
    assert not running.is_alive()
    wait_until(lambda: len(watcher.messages) >= agent.batches, 30, "every batch at the watcher")
    watcher.close()
    broker.stop()

    assert waiting_after > waiting_before + 10  # the outage was buffered
    assert len(Outbox(tmp_path / "lp-03.outbox")) == 0  # and the buffer emptied after it
    telemetry = [json.loads(p) for t, p in watcher.messages if t == f"{machine_topic}/telemetry"]
    # At least once: a batch in flight when the broker went may come twice, but every batch
    # arrives, and new ones never overtake old ones.
    first_arrivals = list(dict.fromkeys(batch["seq"] for batch in telemetry))
    assert first_arrivals == list(range(first_arrivals[0], first_arrivals[0] + agent.batches))
    assert len(telemetry) - agent.batches <= uplink.window


ACL = """\
# Each device logs in with its machine id and may speak only for that machine.
pattern write gymfloor/v1/+/%u/telemetry
pattern write gymfloor/v1/+/%u/session
pattern write gymfloor/v1/+/%u/status
pattern read gymfloor/v1/+/%u/feedback
pattern read gymfloor/v1/+/%u/rejected

user gymfloor-ingest
topic readwrite gymfloor/v1/#
"""


def test_devices_publish_only_as_themselves_on_a_broker_with_passwords_and_acl(
    recording: Path, tmp_path: Path
) -> None:
    with Mosquitto(tmp_path / "broker", users=PASSWORDS, acl=ACL) as broker:
        watcher = Watcher(broker, "gymfloor/v1/#", username="gymfloor-ingest")

        def agent(machine: str, username: str) -> EdgeAgent:
            options = MqttOptions(url=broker.url, username=username, password=PASSWORDS[username])
            uplink = Uplink(options, f"edge-{machine}", Outbox(None), MachineKey("g1", machine))
            return EdgeAgent(
                MachineKey("g1", machine), recording_driver(recording, machine, 0), uplink
            )

        honest = agent("lp-01", "lp-01")
        honest.run(threading.Event(), drain_timeout_s=30)
        spoofer = agent("lp-02", "lp-01")  # lp-01's credentials, lp-02's topics
        spoofer.run(threading.Event(), drain_timeout_s=30)
        assert len(spoofer.uplink.outbox) == 0  # the broker took (and discarded) everything
        wait_until(
            lambda: sum("lp-01/telemetry" in t for t, _ in watcher.messages) >= honest.batches,
            20,
            "lp-01's telemetry",
        )
        wrong_password = Service(
            "edge",
            "--machine",
            "lp-02",
            env={
                "GYMFLOOR_MQTT_URL": broker.url,
                "GYMFLOOR_MQTT_USERNAME": "lp-02",
                "GYMFLOOR_MQTT_PASSWORD": "not-the-password",
                "GYMFLOOR_DATA_DIR": str(tmp_path / "impostor"),
            },
        )
        with wrong_password:
            wrong_password.wait_for_log("refused the connection")
        watcher.close()
    topics = {topic for topic, _ in watcher.messages}
    assert "gymfloor/v1/g1/lp-01/status" in topics
    assert not any("/lp-02/" in topic for topic in topics)


FLOOD = 20_000


def junk(i: int) -> bytes:
    """Every way a broken device can get a batch wrong."""
    return [
        b"not json at all",
        b'{"v": 1, "seq": 1}',
        b'{"v": 1, "seq": 2, "t0": 1764064800.0, "hz": 100, "sled_mm": [1, 2], "lumbar_kpa": [1]}',
        b"\xff\xfe\x00 binary",
        b'{"v": 2, "seq": 3, "t0": 1e300, "hz": 1e9, "sled_mm": [], "lumbar_kpa": []}',
        json.dumps({"v": 1, "seq": i, "t0": 1.7e9, "hz": 100, "sled_mm": [1] * 5000}).encode(),
    ][i % 6]


def test_a_flood_of_malformed_messages_from_one_machine_changes_nobody_elses_reports(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    with (
        Mosquitto(tmp_path / "broker") as broker,
        ingest(broker, tmp_path, GYMFLOOR_INGEST__STATS_INTERVAL_S="0.5") as service,
    ):
        service.wait_for_log("subscribed")
        echoes = Watcher(broker, "gymfloor/v1/g1/lp-bad/rejected")
        flooder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
        flooder.max_inflight_messages_set(1000)
        flooder.connect("127.0.0.1", broker.port)
        flooder.loop_start()

        def flood() -> None:
            for i in range(FLOOD):
                flooder.publish("gymfloor/v1/g1/lp-bad/telemetry", junk(i), qos=1)

        flooding = threading.Thread(target=flood)
        flooding.start()
        with replay(broker, recording) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        flooding.join()
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        service.wait_for_log(f"rejected={FLOOD}")  # every one counted
        assert service.stop() == 0
        flooder.disconnect()
        flooder.loop_stop()
        echoes.close()
    assert exported(tmp_path) == expected
    reject_lines = [line for line in service.log if "from g1/lp-bad" in line]
    assert 1 <= len(reject_lines) <= 10  # but not every one logged
    assert 1 <= len(echoes.messages) <= 500  # nor echoed
    echo = json.loads(echoes.messages[0][1])
    assert echo["topic"] == "gymfloor/v1/g1/lp-bad/telemetry" and echo["reason"]


def test_a_locked_store_delays_writes_but_loses_nothing(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    speed = recording_span(recording) / 8.0
    with Mosquitto(tmp_path / "broker") as broker, ingest(broker, tmp_path) as service:
        service.wait_for_log("subscribed")
        with replay(broker, recording, speed) as publisher:
            time.sleep(2.0)
            # Another program holds the database's write lock for longer than ingest waits.
            blocker = sqlite3.connect(tmp_path / "gymfloor.db", isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            service.wait_for_log("cannot write the store", timeout=30)
            blocker.execute("ROLLBACK")
            blocker.close()
            assert publisher.process is not None and publisher.process.wait(60) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        assert service.stop() == 0
    assert any("store_errors=" in line and "store_errors=0" not in line for line in service.log)
    assert exported(tmp_path) == expected
