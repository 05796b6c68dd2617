"""The wire contract (docs/CONTRACT.md) as code: topics, payloads, rep reports, recordings."""

from gymfloor.contract.outbound import Feedback, Rejected, Severity, StaffAlert
from gymfloor.contract.payloads import (
    VERSION,
    ContractError,
    Payload,
    SessionPayload,
    StatusPayload,
    TelemetryBatch,
    TelemetryPayload,
    decode_session,
    decode_status,
    decode_telemetry,
    encode_payload,
)
from gymfloor.contract.recording import (
    BadLine,
    RecordedMessage,
    decode_line,
    encode_line,
    read_recording,
)
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
    "VERSION",
    "BadLine",
    "ContractError",
    "Fault",
    "Feedback",
    "MachineChannel",
    "MachineKey",
    "Payload",
    "RecordedMessage",
    "Rejected",
    "RepReport",
    "SessionPayload",
    "Severity",
    "StaffAlert",
    "StatusPayload",
    "TelemetryBatch",
    "TelemetryPayload",
    "TopicError",
    "alerts_topic",
    "decode_line",
    "decode_session",
    "decode_status",
    "decode_telemetry",
    "encode_line",
    "encode_payload",
    "machine_filter",
    "parse_machine_topic",
    "read_recording",
]
