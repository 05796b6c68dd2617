"""Route one MQTT message, by its topic, through validation into the detector."""

from __future__ import annotations

from gymfloor.contract import (
    MachineChannel,
    decode_session,
    decode_status,
    decode_telemetry,
    parse_machine_topic,
)
from gymfloor.contract.payloads import RawPayload
from gymfloor.detector import Detector, DetectorOutput


def dispatch(detector: Detector, topic: str, payload: RawPayload) -> list[DetectorOutput]:
    """Feed a message to the detector. Raises TopicError or ContractError for a bad one."""
    key, channel = parse_machine_topic(topic)
    if channel is MachineChannel.TELEMETRY:
        return detector.telemetry(key, decode_telemetry(payload))
    if channel is MachineChannel.SESSION:
        return detector.session(key, decode_session(payload))
    if channel is MachineChannel.STATUS:
        decode_status(payload)  # validated here; machine presence is the ingest service's
    # feedback is what gymfloor itself publishes: nothing to detect in it.
    return []
