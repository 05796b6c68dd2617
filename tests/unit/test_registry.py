"""The pipeline with a registry: strangers are refused before any state is made for them."""

from __future__ import annotations

import json

from gymfloor.contract import MachineKey
from gymfloor.detector import Detector
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline

T0 = 1_700_000_000.0


def telemetry(seq: int) -> bytes:
    batch = {"v": 1, "seq": seq, "t0": T0 + seq, "hz": 50.0}
    return json.dumps({**batch, "sled_mm": [100.0] * 50, "lumbar_kpa": [5.0] * 50}).encode()


def test_a_registry_refuses_unregistered_machines_and_counts_them() -> None:
    pipeline = Pipeline(Detector(), AlertPolicy())
    pipeline.registry = frozenset({MachineKey("g1", "lp-01")})
    echo = pipeline.handle("gymfloor/v1/g1/lp-02/telemetry", telemetry(1), T0, live=True)
    pipeline.handle("gymfloor/v1/g2/lp-01/telemetry", telemetry(1), T0, live=True)
    pipeline.handle("gymfloor/v1/g1/lp-01/telemetry", telemetry(1), T0, live=True)
    assert pipeline.counters.unregistered == 2
    assert pipeline.rejects.total == 2 and pipeline.counters.messages == 1
    assert set(pipeline.detector.machines) == {MachineKey("g1", "lp-01")}
    assert set(pipeline.presence) == {MachineKey("g1", "lp-01")}
    [rejected] = echo
    assert rejected.topic == "gymfloor/v1/g1/lp-02/rejected"
    assert b"machine g1/lp-02 is not registered" in rejected.payload


def test_without_a_registry_every_machine_is_served() -> None:
    pipeline = Pipeline(Detector(), AlertPolicy())
    pipeline.handle("gymfloor/v1/g1/lp-02/telemetry", telemetry(1), T0, live=True)
    assert pipeline.counters.unregistered == 0 and pipeline.counters.messages == 1


def test_a_bad_topic_is_refused_as_before_under_a_registry() -> None:
    pipeline = Pipeline(Detector(), AlertPolicy())
    pipeline.registry = frozenset()
    pipeline.handle("gymfloor/v1/not a topic", telemetry(1), T0, live=True)
    assert pipeline.rejects.total == 1 and pipeline.counters.unregistered == 0
