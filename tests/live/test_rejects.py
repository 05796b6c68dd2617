"""A flood of malformed messages through a real Mosquitto into `gymfloor ingest`: the log names
the machine that sent them and accounts for every one, in a few lines."""

from __future__ import annotations

import re
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.processes import Mosquitto, ingest

FLOOD = 2000
FEW = 5
REJECT_LINE = re.compile(r"rejected (a|\d+) messages? from (\S+?):? ")
TOP = re.compile(r"rejected_top=(\S+)")


def reject_counts(log: list[str]) -> dict[str, int]:
    """Rejects per source, as the reject lines tell them."""
    counts: dict[str, int] = {}
    for match in filter(None, map(REJECT_LINE.search, log)):
        count = 1 if match[1] == "a" else int(match[1])
        counts[match[2]] = counts.get(match[2], 0) + count
    return counts


def top_counts(log: list[str]) -> tuple[dict[str, int], list[str]]:
    """Rejects per source as the status lines tell them, and the source each names first."""
    counts: dict[str, int] = {}
    firsts = []
    for match in filter(None, map(TOP.search, log)):
        pairs = [pair.rsplit(":", 1) for pair in match[1].split(",")]
        firsts.append(pairs[0][0])
        for name, count in pairs:
            counts[name] = counts.get(name, 0) + int(count)
    return counts, firsts


def test_a_flood_of_bad_messages_from_one_machine_is_logged_naming_it(tmp_path: Path) -> None:
    with (
        Mosquitto(tmp_path / "broker") as broker,
        ingest(broker, tmp_path, GYMFLOOR_INGEST__STATS_INTERVAL_S="2") as service,
    ):
        service.wait_for_log("subscribed")
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bad-device")
        device.max_inflight_messages_set(100)
        device.connect("127.0.0.1", broker.port)
        device.loop_start()
        for _ in range(FEW):
            device.publish("gymfloor/v1/g1/lp-other/telemetry", b"{}", qos=1)
        sent = [
            device.publish("gymfloor/v1/g1/lp-bad/telemetry", b"not json %d" % i, qos=1)
            for i in range(FLOOD)
        ]
        sent[-1].wait_for_publish(60)
        device.disconnect()
        device.loop_stop()
        # The rejects held back are reported when the source's interval ends, with no new
        # reject to prompt it.
        service.wait_for_log("messages from g1/lp-bad between")
        service.wait_for_log(f"rejected={FLOOD + FEW}")
        assert service.stop() == 0
    assert reject_counts(service.log) == {"g1/lp-bad": FLOOD, "g1/lp-other": FEW}
    assert sum("from g1/lp-bad" in line for line in service.log) <= 4  # not a line each
    named, firsts = top_counts(service.log)
    assert named == {"g1/lp-bad": FLOOD, "g1/lp-other": FEW}
    assert "g1/lp-bad" in firsts
