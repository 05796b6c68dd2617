"""The external contract (shared CONTRACT.md): topics, payloads, rep reports and recordings."""

from gymfloor.contract.payloads import (
    ContractError,
    SessionPayload,
    StatusPayload,
    TelemetryBatch,
    decode_session,
    decode_status,
    decode_telemetry,
)
from gymfloor.contract.recording import BadLine, RecordedMessage, encode_line, read_recording
from gymfloor.contract.report import Fault, RepReport
from gymfloor.contract.topics import MachineChannel, MachineKey, TopicError, parse_machine_topic

__all__ = [
    "BadLine",
    "ContractError",
    "Fault",
    "MachineChannel",
    "MachineKey",
    "RecordedMessage",
    "RepReport",
    "SessionPayload",
    "StatusPayload",
    "TelemetryBatch",
    "TopicError",
    "decode_session",
    "decode_status",
    "decode_telemetry",
    "encode_line",
    "parse_machine_topic",
    "read_recording",
]
