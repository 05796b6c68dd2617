"""The `machine_offline` alert, through the pipeline without a network: raised once per outage
of a machine with a member on it (goodbye, will or silence), cleared when it is back, carried
across a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from gymfloor.contract import (
    MACHINE_OFFLINE,
    MachineChannel,
    MachineKey,
    SessionPayload,
    StaffAlert,
    StatusPayload,
    TelemetryPayload,
    alerts_topic,
    encode_payload,
)
from gymfloor.detector import Detector, DetectorConfig
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.checkpoint import Checkpoint, CheckpointFile
from gymfloor.ingest.config import AlertPolicyConfig
from gymfloor.ingest.pipeline import Outgoing, Pipeline
from gymfloor.storage import OperationalStore
from gymfloor.storage.alerts import FeedPosition, feed_after

KEY = MachineKey("g1", "lp-01")
T0 = 1_764_064_800.0
POLICY = AlertPolicyConfig()
DETECTOR = DetectorConfig()
AFTER = POLICY.offline_after_s


def fresh() -> Pipeline:
    return Pipeline(Detector(DETECTOR), AlertPolicy(POLICY))


def handle(
    pipeline: Pipeline, channel: MachineChannel, payload: bytes, at: float
) -> list[Outgoing]:
    return pipeline.handle(KEY.topic(channel), payload, T0 + at, True)


def session(pipeline: Pipeline, event: str, at: float) -> list[Outgoing]:
    payload = SessionPayload(v=1, event=event, t=T0 + at, session_id="s-1", member_id="m-1")  # type: ignore[arg-type]
    return handle(pipeline, MachineChannel.SESSION, encode_payload(payload), at)


def status(
    pipeline: Pipeline, state: str, at: float, stamped: float | None = None
) -> list[Outgoing]:
    t = None if stamped is None else T0 + stamped
    payload = encode_payload(StatusPayload(v=1, state=state, t=t))  # type: ignore[arg-type]
    return handle(pipeline, MachineChannel.STATUS, payload, at)


def telemetry(pipeline: Pipeline, at: float, seq: int) -> list[Outgoing]:
    batch = TelemetryPayload(
        v=1, seq=seq, t0=T0 + at, hz=50.0, sled_mm=[10.0] * 10, lumbar_kpa=[5.0] * 10
    )
    return handle(pipeline, MachineChannel.TELEMETRY, encode_payload(batch), at)


def alerts(outgoing: list[Outgoing]) -> list[StaffAlert]:
    return [
        StaffAlert.model_validate_json(out.payload)
        for out in outgoing
        if out.topic == alerts_topic(KEY.gym_id)
    ]


def raised_and_cleared(pipeline: Pipeline) -> tuple[list[StaffAlert], list[StaffAlert]]:
    changes = pipeline.take_changes()
    return changes.alerts, changes.cleared


def test_a_goodbye_mid_session_raises_one_alert_cleared_when_the_machine_is_back() -> None:
    pipeline = fresh()
    status(pipeline, "online", 0.0, stamped=0.0)
    session(pipeline, "start", 1.0)
    (alert,) = alerts(status(pipeline, "offline", 10.0, stamped=10.0))
    assert alert.kind == MACHINE_OFFLINE and alert.cleared_at is None
    assert alert.member_id == "m-1" and alert.session_id == "s-1" and "signed off" in alert.message
    assert alerts(status(pipeline, "offline", 11.0, stamped=11.0)) == []  # still the same outage
    assert pipeline.check_offline(T0 + 10.0 + 10 * AFTER) == []  # and its silence too
    (cleared,) = alerts(status(pipeline, "online", 500.0, stamped=500.0))
    assert cleared.id == alert.id and cleared.cleared_at == T0 + 500.0
    assert cleared.model_copy(update={"cleared_at": None}) == alert
    raised, clearances = raised_and_cleared(pipeline)
    assert raised == [alert] and clearances == [cleared]


def test_a_will_raises_and_telemetry_clears() -> None:
    pipeline = fresh()
    session(pipeline, "start", 0.0)
    (alert,) = alerts(status(pipeline, "offline", 5.0))  # a will carries no time
    assert "lost its connection" in alert.message and alert.t == T0 + 5.0
    (cleared,) = alerts(telemetry(pipeline, 20.0, seq=1))
    assert cleared.id == alert.id and cleared.cleared_at == T0 + 20.0
    assert alerts(telemetry(pipeline, 21.0, seq=2)) == []


def test_silence_raises_once_after_the_setting_and_the_next_message_clears() -> None:
    pipeline = fresh()
    session(pipeline, "start", 0.0)
    telemetry(pipeline, 2.0, seq=1)
    assert pipeline.check_offline(T0 + 2.0 + AFTER) == []  # not over the limit yet
    (raised,) = alerts(pipeline.check_offline(T0 + 2.0 + AFTER + 0.5))
    assert raised.t == T0 + 2.0 and f"silent for over {AFTER:g} s" in raised.message
    assert pipeline.check_offline(T0 + 2.0 + AFTER + 60.0) == []
    assert alerts(status(pipeline, "offline", 100.0)) == []  # a will now is the same outage
    (cleared,) = alerts(telemetry(pipeline, 120.0, seq=2))
    assert cleared.id == raised.id
    assert pipeline.check_offline(T0 + 121.0) == []


def test_a_machine_without_a_member_raises_nothing() -> None:
    pipeline = fresh()
    status(pipeline, "online", 0.0, stamped=0.0)
    telemetry(pipeline, 1.0, seq=1)
    assert alerts(status(pipeline, "offline", 2.0, stamped=2.0)) == []
    assert pipeline.check_offline(T0 + 1000.0) == []
    session(pipeline, "start", 1010.0)
    session(pipeline, "end", 1020.0)  # checked out before leaving
    assert alerts(status(pipeline, "offline", 1021.0)) == []
    assert pipeline.check_offline(T0 + 2000.0) == []
    assert raised_and_cleared(pipeline) == ([], [])


def test_an_outage_that_outlasts_the_session_is_cleared_with_it_once() -> None:
    pipeline = fresh()
    session(pipeline, "start", 0.0)
    (alert,) = alerts(status(pipeline, "offline", 1.0))
    assert pipeline.check_offline(T0 + 1.0 + DETECTOR.idle_timeout_s) == []
    (cleared,) = alerts(pipeline.check_offline(T0 + 1.5 + DETECTOR.idle_timeout_s))
    assert cleared.id == alert.id and cleared.cleared_at == T0 + 1.5 + DETECTOR.idle_timeout_s
    # The member is gone with the session: the machine coming back clears nothing more.
    assert pipeline.check_offline(T0 + 10 * DETECTOR.idle_timeout_s) == []
    assert alerts(status(pipeline, "online", 2 * DETECTOR.idle_timeout_s, stamped=0.0)) == []


def test_a_retained_status_handed_over_again_is_no_news_of_the_machine() -> None:
    pipeline = fresh()
    status(pipeline, "online", 0.0, stamped=0.0)
    session(pipeline, "start", 1.0)
    (alert,) = alerts(pipeline.check_offline(T0 + 2.0 + AFTER))
    # Ingest subscribes anew, and the broker hands over the machine's last, retained status.
    assert alerts(status(pipeline, "online", 50.0, stamped=0.0)) == []
    (cleared,) = alerts(status(pipeline, "online", 60.0, stamped=59.0))  # a fresh one
    assert cleared.id == alert.id


def test_an_outage_survives_a_checkpoint_neither_forgotten_nor_raised_again(
    tmp_path: Path,
) -> None:
    pipeline = fresh()
    session(pipeline, "start", 0.0)
    (alert,) = alerts(pipeline.check_offline(T0 + 1.0 + AFTER))
    checkpoints = CheckpointFile(tmp_path)
    checkpoints.save(Checkpoint(7, pipeline.snapshot()))
    loaded = checkpoints.load()
    assert loaded is not None
    restored = Pipeline.restore(loaded.state, DETECTOR, POLICY)
    restored.resume(T0 + 500.0)
    assert restored.check_offline(T0 + 500.0 + 2 * AFTER) == []
    (cleared,) = alerts(telemetry(restored, 600.0, seq=1))
    assert cleared.id == alert.id


def test_ingests_own_absence_is_no_machines_silence_and_a_replay_keeps_the_id() -> None:
    first = fresh()
    session(first, "start", 0.0)
    (alert,) = alerts(first.check_offline(T0 + 1.0 + AFTER))
    # The same messages again (a journal replay after a crash that lost the alert's checkpoint),
    # then ingest serves again much later.
    second = fresh()
    session(second, "start", 0.0)
    second.resume(T0 + 300.0)
    assert second.check_offline(T0 + 300.0 + AFTER) == []
    (again,) = alerts(second.check_offline(T0 + 301.0 + AFTER))
    assert again.id == alert.id  # the store keeps one


def test_a_checkpoint_from_before_the_watch_restores_with_an_empty_one() -> None:
    pipeline = fresh()
    session(pipeline, "start", 0.0)
    old = pipeline.snapshot()
    # As unpickled from a checkpoint written by a version without the field.
    object.__delattr__(old, "offline")
    restored = Pipeline.restore(old, DETECTOR, POLICY)
    assert restored.check_offline(T0 + 10 * AFTER) == []


def test_the_store_keeps_the_first_clearance_and_the_feed_tells_it(tmp_path: Path) -> None:
    pipeline = fresh()
    session(pipeline, "start", 0.0)
    status(pipeline, "offline", 1.0)
    telemetry(pipeline, 30.0, seq=1)
    changes = pipeline.take_changes()
    store = OperationalStore(f"sqlite:///{tmp_path / 'store.db'}")
    store.write(changes)
    store.write(changes)  # a replay derives it all again
    (stored,) = store.alerts()
    assert stored.kind == MACHINE_OFFLINE
    with store.read() as db:
        batch = feed_after(db, FeedPosition(0, 0, 0), 100)
    ((_, record),) = batch.alerts
    ((seq, clearance),) = batch.clearances
    assert record.cleared_at == T0 + 30.0 == clearance.at and clearance.alert_id == stored.id
    assert batch.end == FeedPosition(1, 0, seq)
    published = json.loads(changes.cleared[0].encode())
    assert published["cleared_at"] == T0 + 30.0 and published["id"] == stored.id
