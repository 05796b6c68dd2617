"""The external contract (shared CONTRACT.md): topics, payloads, rep reports and recordings."""

from gymfloor.contract.outbound import Feedback, Rejected, Severity, StaffAlert
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
from gymfloor.contract.report import FAULT_LABELS, Fault, RepReport
from gymfloor.contract.topics import (
    ID_PATTERN,
    INGEST_CHANNELS,
    MachineChannel,
    MachineKey,
    TopicError,
    alerts_topic,
    machine_filter,
    parse_machine_topic,
)

__all__ = [
    "FAULT_LABELS",
    "ID_PATTERN",
    "INGEST_CHANNELS",
    "BadLine",
    "ContractError",
    "Fault",
    "Feedback",
    "MachineChannel",
    "MachineKey",
    "RecordedMessage",
    "Rejected",
    "RepReport",
    "SessionPayload",
    "Severity",
    "StaffAlert",
    "StatusPayload",
    "TelemetryBatch",
    "TopicError",
    "alerts_topic",
    "decode_session",
    "decode_status",
    "decode_telemetry",
    "encode_line",
    "machine_filter",
    "parse_machine_topic",
    "read_recording",
]
