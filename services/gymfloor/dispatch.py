"""Route one MQTT message, by its topic, through validation into the detector."""

from __future__ import annotations

import msgspec

from gymfloor.contract import (
    MachineChannel,
    MachineKey,
    SessionPayload,
    StatusPayload,
    TelemetryBatch,
    decode_session,
    decode_status,
    decode_telemetry,
)
from gymfloor.contract.payloads import RawPayload
from gymfloor.detector import Detector, DetectorOutput


class Dispatched(msgspec.Struct, frozen=True):
    """A message that passed validation, and what the detector made of it. (A struct: one is
    made for every message, and a frozen dataclass takes several times as long to build.)"""

    machine: MachineKey
    payload: TelemetryBatch | SessionPayload | StatusPayload | None
    outputs: list[DetectorOutput]


def dispatch(
    detector: Detector, key: MachineKey, channel: MachineChannel, payload: RawPayload
) -> Dispatched:
    """Feed a message, from the topic `parse_machine_topic` made `key` and `channel` of, to the
    detector. Raises ContractError for a bad payload."""
    if channel is MachineChannel.TELEMETRY:
        batch = decode_telemetry(payload)
        return Dispatched(key, batch, detector.telemetry(key, batch))
    if channel is MachineChannel.SESSION:
        event = decode_session(payload)
        return Dispatched(key, event, detector.session(key, event))
    if channel is MachineChannel.STATUS:  # machine presence is the ingest service's concern
        return Dispatched(key, decode_status(payload), [])
    # What gymfloor itself publishes (feedback, reps, rejects): nothing to detect in it.
    return Dispatched(key, None, [])
